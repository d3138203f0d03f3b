"""`certrotate status | plan | rotate | verify`: see every certificate, where it is served and what happens
next; rotate one; check what clients really get. Exit codes: 0 fine, 1 something needs a person (or the
rotation failed, or an endpoint does not serve what IAM says), 2 a usage or configuration problem."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError
from certrotate import planning
from certrotate.adapters.alb_http01 import AlbHttp01
from certrotate.adapters.tls_probe import Connect, ConnectTo, connector, direct, fetch_certificates
from certrotate.endpoint_check import EndpointChecker
from certrotate.errors import CertRotateError
from certrotate.model import HostedZone, ServerCertificate
from certrotate.served import CheckResult, CheckStatus
from rich.text import Text

from certrotate_cli import inventory, render
from certrotate_cli.aws import ROTATE_FUNCTION_OUTPUT, Aws, CliError

OK, ATTENTION, USAGE = 0, 1, 2
LOCAL_ROTATION_SECONDS = 900.0  # as long as the function's own timeout may be


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", help="AWS profile (default: the standard boto3 resolution)")
    common.add_argument("--region", help="AWS region of the stack (default: the profile's or AWS_REGION)")
    common.add_argument(
        "--stack", default="certrotate", help="CloudFormation stack name (default: certrotate)"
    )
    common.add_argument(
        "--regions",
        type=lambda v: tuple(r.strip() for r in v.split(",") if r.strip()),
        help="load balancer regions, comma-separated (default: deployed LOAD_BALANCER_REGIONS, or --region)",
    )
    common.add_argument("--json", action="store_true", help="JSON for scripts instead of a table")
    common.add_argument("--no-color", action="store_true", help="no colours (also: NO_COLOR=1)")

    top = argparse.ArgumentParser(
        prog="certrotate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = commands.add_parser(
        "status", parents=[common], help="every certificate, its fate and its endpoints"
    )
    status.add_argument("--renew-before-days", type=int, help="override the deployed RENEW_BEFORE_DAYS")

    plan = commands.add_parser("plan", parents=[common], help="what the next scan and rotation would do")
    plan.add_argument("name", nargs="?", help="one certificate (default: all)")
    plan.add_argument("--renew-before-days", type=int, help="override the deployed RENEW_BEFORE_DAYS")

    rotate = commands.add_parser("rotate", parents=[common], help="rotate one certificate now")
    rotate.add_argument("name")
    rotate.add_argument("--force", action="store_true", help="rotate even when it is not due")
    rotate.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    rotate.add_argument(
        "--local",
        action="store_true",
        help="break-glass: run the rotation in this process with your credentials, not the deployed function",
    )
    rotate.add_argument("--yes", action="store_true", help="do not ask for confirmation (--local)")
    rotate.add_argument(
        "--account", help="the managed account that holds the certificate (MANAGED_ACCOUNTS; default: own)"
    )

    verify = commands.add_parser("verify", parents=[common], help="TLS handshakes against every endpoint")
    verify.add_argument(
        "name", nargs="?", help="one certificate (default: every certificate served anywhere)"
    )
    verify.add_argument(
        "--connect-to",
        action="append",
        default=[],
        metavar="HOST1:PORT1:HOST2:PORT2",
        help="reach HOST1:PORT1 at HOST2:PORT2 (as curl's option; e.g. through a tunnel); repeatable",
    )
    verify.add_argument("--timeout", type=float, default=5.0, help="seconds per handshake (default 5)")
    return top


def run(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stdin: IO[str] | None = None,
    connect: Connect = direct,
) -> int:
    """The console script. `stdout`, `stdin` and `connect` (how TCP connections are opened) are for tests."""
    args = parser().parse_args(argv)
    color = not args.no_color and not os.environ.get("NO_COLOR")
    out = render.console(stdout, color=color)
    try:
        aws = Aws(profile=args.profile, region=args.region)
        command: Callable[..., int] = COMMANDS[args.command]
        return command(args, aws, out=out, stdout=stdout, stdin=stdin or sys.stdin, connect=connect)
    except (CliError, CertRotateError, ValueError) as exc:
        print(f"certrotate: {exc}", file=sys.stderr)
        return USAGE
    except (ClientError, BotoCoreError) as exc:
        print(f"certrotate: AWS said: {exc}", file=sys.stderr)
        return USAGE


def _collect(args: argparse.Namespace, aws: Aws) -> inventory.Inventory:
    settings, source = aws.settings(
        args.stack, renew_before_days=args.renew_before_days, regions=args.regions
    )
    return inventory.collect(
        store=aws.store(),
        endpoints=aws.endpoints(settings.load_balancer_regions),
        addresses=aws.addresses(),
        settings=settings,
        settings_source=source,
        now=datetime.now(UTC),
    )


# -- status -------------------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, aws: Aws, *, out: Any, stdout: IO[str] | None, **_: Any) -> int:
    found = _collect(args, aws)
    if args.json:
        render.print_json(render.status_json(found), stdout)
    else:
        render.status_table(found, out)
    return ATTENTION if found.needing_attention else OK


# -- plan ---------------------------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace, aws: Aws, *, out: Any, stdout: IO[str] | None, **_: Any) -> int:
    found = _collect(args, aws)
    if args.name and found.find(args.name) is None:
        raise CliError(f"no IAM server certificate is named {args.name!r}")
    plan = found.plan
    grace = found.settings.retirement_grace_seconds
    retire = [
        s.name
        for s in found.statuses
        if s.retirement is not None and s.retirement.verdict is planning.RetirementVerdict.DELETE
    ]
    scan = {
        "enqueue": _names(plan.to_enqueue),
        "held_back": _names(plan.held_back),
        "resume": _names(plan.stalled),
        "retire": retire,
        "keep_pending_retirement": [n for n in _names(plan.pending_retirement) if n not in retire],
    }
    store = aws.store()
    challenge_lookups: tuple[list[HostedZone], AlbHttp01] | None = None
    rotations: list[dict[str, Any]] = []
    for status in inventory.names_for(found.statuses, args.name):
        if status.decision is None or (
            args.name is None and status.decision.verdict is planning.Verdict.NOT_DUE
        ):
            continue
        decision = status.decision
        ordering = decision.verdict is planning.Verdict.ISSUE
        if ordering and challenge_lookups is None:  # read once, only when some certificate would be ordered
            challenge_lookups = (aws.dns().zones(), AlbHttp01(lambda region: aws.client("elbv2", region)))
        rotations.append(
            {
                "certificate_name": status.name,
                "verdict": decision.verdict.value,
                "reason": decision.reason,
                "source": status.decision_source,
                "replacement_name": decision.replacement_name,
                "order": {
                    "dns_names": list(status.dns_names),
                    "key": inventory.key_of(store, status.certificate),
                    "challenges": inventory.challenge_routes(status, *challenge_lookups)
                    if challenge_lookups
                    else [],
                }
                if ordering
                else None,
                "endpoint_changes": inventory.planned_changes(status)
                if decision.verdict in (planning.Verdict.ISSUE, planning.Verdict.RESUME)
                else [],
                "retirement": f"after {grace} s of the replacement serving everywhere, once nothing uses it",
            }
        )
    unmanaged = [s.name for s in inventory.names_for(found.statuses, args.name) if s.decision is None]
    if args.json:
        render.print_json({"scan": scan, "rotations": rotations, "unmanaged": unmanaged}, stdout)
        return OK
    out.print(Text(f"Next scan (settings: {found.settings_source})", style="bold"))
    labels = {
        "enqueue": "would send to the rotation queue",
        "held_back": "held back",
        "resume": "would resume (stalled after upload)",
        "retire": "would delete (replaced, past grace, unused)",
        "keep_pending_retirement": "would keep, pending retirement",
    }
    for key, label in labels.items():
        out.print(f"  {label + ':':<46} {', '.join(scan[key]) or '-'}")
    for rotation in rotations:
        out.print()
        out.print(Text(f"Rotation of {rotation['certificate_name']}: {rotation['verdict']}", style="bold"))
        out.print(f"  why: {rotation['reason']} ({rotation['source']})")
        if rotation["order"]:
            order = rotation["order"]
            out.print(f"  order: {', '.join(order['dns_names'])} with an {order['key']} key")
            for route in order["challenges"]:
                out.print(f"  validate: {route}")
            out.print(f"  upload as: {rotation['replacement_name']}")
        for change in rotation["endpoint_changes"]:
            out.print(f"  repoint: {change}")
        if rotation["verdict"] in ("issue", "resume"):
            out.print(f"  retire: {rotation['retirement']}")
    if unmanaged and args.name:
        out.print(f"{args.name} is not managed (tag certrotate:managed=true): the functions never change it")
    return OK


def _names(certificates: Sequence[ServerCertificate]) -> list[str]:
    return [c.name for c in certificates]


# -- rotate -------------------------------------------------------------------------------------------------


def cmd_rotate(
    args: argparse.Namespace, aws: Aws, *, out: Any, stdout: IO[str] | None, stdin: IO[str], **_: Any
) -> int:
    request: dict[str, Any] = {"certificate_name": args.name, "force": args.force, "dry_run": args.dry_run}
    if args.account:
        request["account_id"] = args.account
    if args.local:
        result = _rotate_locally(args, aws, out=out, stdin=stdin)
        if result is None:
            return ATTENTION
    else:
        deployment = aws.deployment(args.stack)
        function = deployment.outputs.get(ROTATE_FUNCTION_OUTPUT)
        if not function:
            raise CliError(
                f"{deployment.note or f'stack {args.stack!r} has no output {ROTATE_FUNCTION_OUTPUT}'}: "
                "pass --stack, or --local to rotate from here"
            )
        if not args.json:
            out.print(f"invoking {function} with {json.dumps(request)}")
        response = aws.client("lambda").invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(request).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            message = payload.get("errorMessage") if isinstance(payload, dict) else payload
            if args.json:
                render.print_json({"error": message, "type": payload.get("errorType")}, stdout)
            else:
                out.print(Text(f"rotation failed: {message}", style="bold red"))
            return ATTENTION
        result = payload
    if args.json:
        render.print_json(result, stdout)
        return OK
    planned = result.get("status") == "planned"  # a dry run lists what it would do
    for step in result.get("steps", []):
        out.print(Text("· would " if planned else "✓ ", style="dim" if planned else "green") + Text(step))
    new = result.get("new_certificate_name")
    out.print(
        Text(f"{result['status']}: ", style="bold")
        + Text(f"{result.get('reason', '')}" + (f"; replacement {new}" if new else ""))
    )
    if result.get("retirement"):
        out.print(f"retirement: {result['retirement']}")
    return OK


def _rotate_locally(args: argparse.Namespace, aws: Aws, *, out: Any, stdin: IO[str]) -> dict[str, Any] | None:
    # With --json, stdout carries the result only: notes and the prompt go to stderr.
    say: Callable[..., None] = _to_stderr if args.json else out.print
    deployed = aws.function_environment(args.stack, ROTATE_FUNCTION_OUTPUT)
    env: dict[str, str] = {}
    if deployed is None:
        say(f"stack {args.stack!r} not found: using the settings in this shell's environment")
    else:
        env = {k: v for k, v in deployed.items() if not k.startswith("AWS_")}
        bundle = env.get("ISSUER_TRUST_BUNDLE")
        if bundle and not os.path.isfile(bundle):
            env.pop("ISSUER_TRUST_BUNDLE")  # a path inside the function's package
            say("the deployed ISSUER_TRUST_BUNDLE is not on this machine: certifi's roots are used")
    account = aws.client("sts").get_caller_identity()
    if not args.yes:
        what = "plan (dry run)" if args.dry_run else "ROTATE"
        say(
            f"Break-glass: {what} {args.name} in this process as {account['Arn']} "
            f"(account {account['Account']}, region {aws.region})."
        )
        say("Type the certificate's name to go on: ", end="")
        if stdin.readline().strip() != args.name:
            say("cancelled: nothing was changed")
            return None
    env |= {"AWS_REGION": aws.region, "POWERTOOLS_TRACE_DISABLED": "true"}
    if args.profile:
        env["AWS_PROFILE"] = args.profile
    with _environment(env):
        from certrotate import wiring  # reads the environment just set
        from certrotate.rotation import RotationRequest

        wiring.refresh()
        try:
            # The function's own lease key: `<account>:<name>` with MANAGED_ACCOUNTS (the own account
            # included), so that this run and a queued rotation of the same certificate never both order.
            service = wiring.rotation_service(wiring.account_of(args.account))
            request = RotationRequest(certificate_name=args.name, force=args.force, dry_run=args.dry_run)
            result = service.rotate(request, deadline=time.monotonic() + LOCAL_ROTATION_SECONDS)
        finally:
            wiring.reset()
    return result.as_dict()


def _to_stderr(text: str, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- verify -------------------------------------------------------------------------------------------------


def cmd_verify(
    args: argparse.Namespace, aws: Aws, *, out: Any, stdout: IO[str] | None, connect: Connect, **_: Any
) -> int:
    rules = [ConnectTo.parse(spec) for spec in args.connect_to]
    settings, _source = aws.settings(args.stack, renew_before_days=None, regions=args.regions)
    store = aws.store()
    listed = store.list_certificates()
    tags = store.tags_of_many([c.name for c in listed])
    certificates = [
        ServerCertificate(c.name, c.arn, c.certificate_id, c.path, c.expiration, c.upload_date, tags[c.name])
        for c in listed
    ]
    if args.name and args.name not in tags:
        raise CliError(f"no IAM server certificate is named {args.name!r}")
    every_endpoint = aws.endpoints(settings.load_balancer_regions)
    endpoints = every_endpoint.discover(include_cloudfront=True).endpoints
    reach = connector(rules, connect)
    checker = EndpointChecker(
        store=store,
        pems=store,
        endpoints=every_endpoint,
        addresses=aws.addresses(),
        fetch=lambda host, port, name: fetch_certificates(
            host, port, name, timeout=args.timeout, connect=reach
        ),
    )
    results: list[CheckResult] = []
    for cert in certificates:
        if args.name is None or cert.name == args.name:
            results.extend(checker.check(cert.name, certificates=certificates, endpoints=endpoints))
    if args.json:
        render.print_json({"results": [r.as_dict() for r in results]}, stdout)
    else:
        render.verify_table(results, out)
    failed = any(r.status.is_mismatch or r.status is CheckStatus.UNREACHABLE for r in results)
    return ATTENTION if failed else OK


COMMANDS: dict[str, Callable[..., int]] = {
    "status": cmd_status,
    "plan": cmd_plan,
    "rotate": cmd_rotate,
    "verify": cmd_verify,
}
