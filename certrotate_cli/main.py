"""certrotate: see every certificate, where it is served and what happens next; rotate one or roll a rotation
back; check what clients really get; check a deployment before it matters.

Options such as --region, --profile, --stack, --json go before or after the command.

exit codes: 0 fine; 1 something needs a person (a certificate, a handshake, a failed or cancelled rotation or
rollback); 2 usage or configuration; 3 AWS or the network; 130 interrupted."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError
from certrotate import __version__
from certrotate.adapters.aws.alb_http01 import AlbHttp01
from certrotate.adapters.aws.errors import error_code
from certrotate.adapters.lease_table.progress import DynamoDbProgress
from certrotate.adapters.net.tls_probe import Connect, ConnectTo, connector, direct, fetch_certificates
from certrotate.config import Settings
from certrotate.decide.policies import Verdict
from certrotate.model import HostedZone, ServerCertificate
from certrotate.order.refusals import NamePolicy
from certrotate.permissions import Principal
from certrotate.report.served import CheckResult, CheckStatus
from certrotate.report.verify import EndpointChecker
from certrotate.retire.decision import RetirementVerdict
from rich.console import Console
from rich.text import Text

from certrotate_cli import inventory, render
from certrotate_cli.aws import ROTATE_FUNCTION_OUTPUT, SCAN_FUNCTION_OUTPUT, Aws, local_trust_bundle
from certrotate_cli.failures import ATTENTION, INTERRUPTED, OK, USAGE, CliError, describe
from certrotate_cli.progress import Reporter

LOCAL_ROTATION_SECONDS = 900.0  # as long as the function's own timeout may be
_DEFAULT_STACK = "certrotate"


def _regions(value: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in value.split(",") if r.strip())


def _account(value: str) -> str:
    if not (len(value) == 12 and value.isascii() and value.isdigit()):
        raise argparse.ArgumentTypeError(f"{value!r} is not a 12-digit AWS account id")
    return value


def _global_options(parser: argparse.ArgumentParser, *, here: bool) -> None:
    """The options every command takes, before or after its name. On the commands (`here` False) they
    default to SUPPRESS, so that an option given before the command is not reset by the command's parser."""

    def default(value: Any) -> Any:
        return value if here else argparse.SUPPRESS

    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument("--profile", default=default(None), help="AWS profile (default: boto3's resolution)")
    group.add_argument(
        "--region", default=default(None), help="AWS region of the stack (default: AWS_REGION, the profile's)"
    )
    group.add_argument(
        "--stack", default=default(_DEFAULT_STACK), help="CloudFormation stack name (default: certrotate)"
    )
    group.add_argument(
        "--regions",
        type=_regions,
        default=default(None),
        help="load balancer regions, comma-separated (default: the deployed LOAD_BALANCER_REGIONS, else "
        "every region enabled for the account)",
    )
    group.add_argument(
        "--account",
        type=_account,
        default=default(None),
        help="a managed account (MANAGED_ACCOUNTS): rotate and rollback name it to the function; status, "
        "plan, verify and doctor read it through --account-role",
    )
    group.add_argument(
        "--account-role",
        default=default(None),
        help="the role to assume in --account for reading (default: member-role.yaml's read role, "
        "<MemberRoleName>-read)",
    )
    group.add_argument("--json", action="store_true", default=default(False), help="JSON for scripts")
    group.add_argument(
        "--no-color", action="store_true", default=default(False), help="no colours (also: NO_COLOR=1)"
    )
    group.add_argument(
        "--debug", action="store_true", default=default(False), help="show the trace of an error"
    )


def _dry_run_and_local(command: argparse.ArgumentParser, what: str) -> None:
    """What the commands that change something take: a dry run, and a break-glass run in this process."""
    command.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    command.add_argument(
        "--local",
        action="store_true",
        help=f"break-glass: run the {what} in this process with your credentials, not the deployed function",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="certrotate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    top.add_argument("--version", action="version", version=f"certrotate {__version__}")
    _global_options(top, here=True)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        _global_options(sub, here=False)
        return sub

    status = command("status", "every certificate (IAM and ACM imported), its fate and its endpoints")
    status.add_argument("--renew-before-days", type=int, help="override the deployed RENEW_BEFORE_DAYS")

    plan = command("plan", "what the next scan and a rotation would do (no ACME call, no change)")
    plan.add_argument("name", nargs="?", help="one certificate: IAM name or ACM ARN (default: all)")
    plan.add_argument("--renew-before-days", type=int, help="override the deployed RENEW_BEFORE_DAYS")

    rotate = command("rotate", "rotate one certificate now (invokes the deployed RotateFunction)")
    rotate.add_argument("name", help="IAM server certificate name, or an ACM imported certificate's ARN")
    rotate.add_argument("--force", action="store_true", help="rotate even when it is not due")
    _dry_run_and_local(rotate, "rotation")
    rotate.add_argument("--yes", action="store_true", help="do not ask for confirmation (--local)")

    rollback = command(
        "rollback",
        "put every endpoint serving a replacement back on the certificate it replaced, and hold both until "
        "a forced rotation",
    )
    rollback.add_argument("name", help="the replaced certificate or its replacement (IAM names)")
    rollback.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _dry_run_and_local(rollback, "rollback")

    doctor = command(
        "doctor",
        "a read-only preflight of the deployed stack and its account: one line per finding, exit 1 when "
        "something would stop a rotation",
    )
    doctor.add_argument(
        "--dns-server",
        metavar="HOST[:PORT]",
        help="ask this resolver for CAA records (default: the system's)",
    )
    doctor.add_argument("--no-caa", action="store_true", help="skip the CAA checks (no DNS queries)")

    verify = command("verify", "TLS handshakes against every endpoint: is what IAM says really served?")
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


@dataclass
class Context:
    """What a command works with: the arguments, the operator's AWS session in the stack's account, and
    where to write (stdout for the result, stderr for notes and progress)."""

    args: argparse.Namespace
    aws: Aws
    out: Console
    stdout: IO[str] | None
    stdin: IO[str]
    connect: Connect
    progress: Reporter
    _target: Aws | None = None

    def note(self, text: str, end: str = "\n") -> None:
        """A note for the person at the terminal: stderr when stdout carries JSON."""
        if self.args.json:
            print(text, end=end, file=sys.stderr, flush=True)
        else:
            self.out.print(text, end=end)

    def settings(self, *, renew_before_days: int | None = None) -> tuple[Settings, str]:
        args = self.args
        return self.aws.settings(args.stack, renew_before_days=renew_before_days, regions=args.regions)

    def target(self) -> Aws:
        """The account read by status, plan, verify and doctor: --account's, else the stack's own (the role
        is assumed once per command)."""
        if self._target is None:
            role = self.args.account_role or self.aws.read_role(self.args.stack)
            self._target = self.aws.in_account(self.args.account, role)
        return self._target

    def account_id(self) -> str:
        """The id of the account read (--account's, else the credentials' own)."""
        return self.target().account or self.aws.caller()["Account"]

    def records(self, settings: Settings) -> DynamoDbProgress | None:
        """The rotations' progress records of the account read, in the stack's (central) lease table, keyed
        as the functions key them (with MANAGED_ACCOUNTS, `#progress:<account>:<name>`). None: no table."""
        if not settings.lease_table_name:
            return None
        account = self.account_id() if settings.many_accounts else None
        return DynamoDbProgress(self.aws.client("dynamodb"), settings.lease_table_name, account)

    def name_policy(self, settings: Settings) -> NamePolicy:
        """The names the account read may have renewed, as its rotations check them (wiring.name_policy)."""
        if not settings.restricts_names:
            return NamePolicy()
        return settings.name_policy(self.account_id())

    def zones(self, settings: Settings) -> tuple[list[HostedZone] | None, str]:
        """The public Route 53 zones DNS-01 would use for the account read, where the rotation would use them:
        its own, or with DNS_ACCOUNTS its DNS account's, read through member-role.yaml's read role there (the
        operator's own credentials in their own account). And where they were read, or why they could not be
        (then None: nothing about DNS-01 can be checked)."""
        account = self.account_id()
        dns_account = settings.dns_account_for(account) if settings.dns_accounts else account
        if dns_account == account:
            return self.target().dns().zones(), f"account {account}"
        role = self.aws.read_role(self.args.stack)
        try:
            return self.aws.in_account(dns_account, role).dns().zones(), f"DNS account {dns_account}"
        except (CliError, ClientError, BotoCoreError) as exc:
            return None, (
                f"the Route 53 zones of DNS account {dns_account} (DNS_ACCOUNTS answers DNS-01 for account "
                f"{account} there) could not be read ({exc}): DNS-01 is not checked; deploy member-role.yaml "
                f"there with OperatorRoleArns (its {role} role lists zones), and operator-policy.yaml with "
                "DnsAccountIds"
            )


def run(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stdin: IO[str] | None = None,
    connect: Connect = direct,
    progress: Reporter | None = None,
) -> int:
    """The console script. `stdout`, `stdin`, `connect` (how TCP connections are opened) and `progress`
    are for tests."""
    args = parser().parse_args(argv)
    color = not args.no_color and not os.environ.get("NO_COLOR")
    out = render.console(stdout, color=color)
    try:
        aws = Aws(profile=args.profile, region=args.region)
        context = Context(args, aws, out, stdout, stdin or sys.stdin, connect, progress or Reporter())
        return COMMANDS[args.command](context)
    except KeyboardInterrupt:
        print("\ncertrotate: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:
        code, message = describe(exc)
        if args.debug:
            traceback.print_exc()
        print(f"certrotate: {message}", file=sys.stderr)
        return code


def _collect(context: Context, settings: Settings, source: str) -> inventory.Inventory:
    """Everything status, plan and doctor show, decided as the functions decide: claims proven by the
    progress records, holds against their inputs, names against ACCOUNT_DOMAINS."""
    target = context.target()
    if target.account:
        source += f", account {target.account}"
    return inventory.collect(
        store=target.store(),
        endpoints=target.endpoints(settings.load_balancer_regions),
        addresses=target.addresses(),
        acm=target.acm(settings.load_balancer_regions),
        settings=settings,
        settings_source=source,
        now=datetime.now(UTC),
        progress=context.progress,
        records=context.records(settings),
        names=context.name_policy(settings),
    )


# -- status -------------------------------------------------------------------------------------------------


def cmd_status(context: Context) -> int:
    found = _collect(context, *context.settings(renew_before_days=context.args.renew_before_days))
    if context.args.json:
        render.print_json(render.status_json(found), context.stdout)
    else:
        render.status_table(found, context.out)
    return ATTENTION if found.needing_attention else OK


# -- plan ---------------------------------------------------------------------------------------------------


def cmd_plan(context: Context) -> int:
    args = context.args
    settings, source = context.settings(renew_before_days=args.renew_before_days)
    found = _collect(context, settings, source)
    if args.name and found.find(args.name) is None:
        raise CliError(f"no IAM server certificate (nor ACM imported certificate) is named {args.name!r}")
    plan = found.plan
    grace = found.settings.retirement_grace_seconds
    retire = [
        s.name
        for s in found.statuses
        if s.retirement is not None and s.retirement.verdict is RetirementVerdict.DELETE
    ]
    scan = {
        "enqueue": _names(plan.to_enqueue) + [a.arn for a in found.acm if a.scan_would_send],
        "held_back": _names(plan.held_back) + [a.arn for a in found.acm if a.held_back],
        "resume": _names(plan.stalled),
        "retire": retire,
        "keep_pending_retirement": [n for n in _names(plan.pending_retirement) if n not in retire],
    }
    target = context.target()
    store = target.store()
    # Read once, only when some certificate would be ordered: the zones where its rotation would look.
    lookups: tuple[list[HostedZone] | None, str, AlbHttp01] | None = None
    rotations: list[dict[str, Any]] = []
    for status in inventory.names_for(found.statuses, args.name):
        if status.decision is None or (args.name is None and status.decision.verdict is Verdict.NOT_DUE):
            continue
        decision = status.decision
        ordering = decision.verdict is Verdict.ISSUE
        if ordering and lookups is None:
            lookups = (*context.zones(settings), AlbHttp01(lambda region: target.client("elbv2", region)))
        challenges: list[str] = []
        if lookups is not None and ordering:
            zones, where, http01 = lookups
            challenges = (
                inventory.challenge_routes(status, zones, http01)
                if zones is not None
                else [f"not checked: {where}"]
            )
        rotations.append(
            {
                "certificate_name": status.name,
                "verdict": decision.verdict.value,
                "reason": decision.reason,
                "source": status.decision_source,
                "replacement_name": decision.replacement_name,
                "claims_not_proven": [u.as_dict() for u in status.unproven],
                "order": {
                    "dns_names": list(status.dns_names),
                    "key": inventory.key_of(store, status.certificate),
                    "refused": status.refused,  # the rotation refuses before ordering: no order at all
                    "challenges": challenges,
                }
                if ordering
                else None,
                "endpoint_changes": inventory.planned_changes(status)
                if decision.verdict in (Verdict.ISSUE, Verdict.RESUME)
                else [],
                "retirement": f"after {grace} s of the replacement serving everywhere, once nothing uses it",
            }
        )
    for acm in found.acm:
        if args.name not in (None, acm.arn) or acm.decision is None:
            continue
        if args.name is None and acm.decision.verdict is Verdict.NOT_DUE:
            continue
        rotations.append(
            {
                "certificate_arn": acm.arn,
                "verdict": acm.decision.verdict.value,
                "reason": acm.decision.reason,
                "source": acm.decision_source,
                "order": {
                    "dns_names": list(acm.dns_names),
                    "key": acm.key_algorithm,
                    "refused": acm.refused,
                    "challenges": [],
                }
                if acm.decision.verdict is Verdict.ISSUE
                else None,
                "reimport": f"into {acm.arn} in place (ARN and associations stay)",
            }
        )
    unmanaged = [s.name for s in inventory.names_for(found.statuses, args.name) if s.decision is None]
    unmanaged += [a.arn for a in found.acm if a.decision is None and args.name in (None, a.arn)]
    if args.json:
        render.print_json({"scan": scan, "rotations": rotations, "unmanaged": unmanaged}, context.stdout)
        return OK
    out = context.out
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
        subject = rotation.get("certificate_name") or rotation.get("certificate_arn")
        out.print()
        out.print(Text(f"Rotation of {subject}: {rotation['verdict']}", style="bold"))
        out.print(f"  why: {rotation['reason']} ({rotation['source']})")
        for claim in rotation.get("claims_not_proven", []):
            out.print(
                f"  not proven: {claim['claimed_replacement'] or '?'} replaces it ({claim['reason']}); "
                f"{claim['fix']}"
            )
        if rotation["order"] and rotation["order"]["refused"]:
            out.print(f"  refused before ordering: {rotation['order']['refused']}")
        elif rotation["order"]:
            order = rotation["order"]
            out.print(f"  order: {', '.join(order['dns_names'])} with an {order['key']} key")
            for route in order["challenges"]:
                out.print(f"  validate: {route}")
            if rotation.get("replacement_name"):
                out.print(f"  upload as: {rotation['replacement_name']}")
        for change in rotation.get("endpoint_changes", []):
            out.print(f"  repoint: {change}")
        if rotation.get("reimport") and rotation["order"]:
            out.print(f"  re-import: {rotation['reimport']}")
        if rotation["verdict"] in ("issue", "resume") and rotation.get("retirement"):
            out.print(f"  retire: {rotation['retirement']}")
    if unmanaged and args.name:
        out.print(f"{args.name} is not managed (tag certrotate:managed=true): the functions never change it")
    return OK


def _names(certificates: Sequence[ServerCertificate]) -> list[str]:
    return [c.name for c in certificates]


# -- rotate -------------------------------------------------------------------------------------------------


def _is_acm_arn(name: str) -> bool:
    return name.startswith("arn:") and ":acm:" in name


def _rotation_request(args: argparse.Namespace) -> dict[str, Any]:
    subject = "certificate_arn" if _is_acm_arn(args.name) else "certificate_name"
    request: dict[str, Any] = {subject: args.name, "force": args.force, "dry_run": args.dry_run}
    if args.account and subject == "certificate_name":
        request["account_id"] = args.account  # an ACM ARN names its account itself
    return request


def invoke(context: Context, output: str, request: dict[str, Any], what: str) -> tuple[bool, Any]:
    """Invoke a deployed function once and wait for its answer, as long as it may run: (failed, payload).
    Ctrl-C stops the waiting, not the function."""
    args = context.args
    function = context.aws.require_function(args.stack, output, ", or --local to run it from here")
    configuration = context.aws.function_configuration(args.stack, output)
    timeout = configuration.timeout if configuration else 900
    context.note(f"invoking {function} with {json.dumps(request)}")
    client = context.aws.invoker(timeout)
    try:
        with context.progress.waiting(f"{what}: waiting for {function} (up to {timeout} s)"):
            response = client.invoke(
                FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(request).encode()
            )
    except KeyboardInterrupt:
        context.note(
            f"stopped waiting: {function} goes on and finishes on its own; `certrotate status` shows how"
        )
        raise
    payload = json.loads(response["Payload"].read() or b"null")
    return bool(response.get("FunctionError")), payload


def cmd_rotate(context: Context) -> int:
    args = context.args
    request = _rotation_request(args)
    if args.local:
        local = _rotate_locally(context, request)
        if local is None:
            return ATTENTION
        result: dict[str, Any] = local
    else:
        failed, payload = invoke(context, ROTATE_FUNCTION_OUTPUT, request, "rotation")
        if failed:
            return _function_failed(context, "rotation", payload)
        result = payload
    return _print_rotation(context, result)


# Errors the functions raise for a request they refuse before any change: a usage error here (exit 2).
REFUSED_REQUESTS = frozenset(
    {
        "InvalidRequest",
        "UnknownCertificate",
        "UnmanagedCertificate",
        "UnknownAcmCertificate",
        "NotImported",
        "NothingToRollBack",
        "RollbackRefused",
        "ConfigurationError",
    }
)


def _function_failed(context: Context, what: str, payload: Any) -> int:
    message = payload.get("errorMessage") if isinstance(payload, dict) else payload
    kind = payload.get("errorType") if isinstance(payload, dict) else None
    if context.args.json:
        render.print_json({"error": message, "type": kind}, context.stdout)
    else:
        print(f"certrotate: {what} failed: {message}", file=sys.stderr)  # one line, as every error
    return USAGE if kind in REFUSED_REQUESTS else ATTENTION


def _print_rotation(context: Context, result: dict[str, Any]) -> int:
    if context.args.json:
        render.print_json(result, context.stdout)
        return OK
    out = context.out
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


def confirm(context: Context, what: str, name: str) -> bool:
    """Ask the operator to type the certificate's name (or pass --yes)."""
    if context.args.yes:
        return True
    context.note(what)
    context.note("Type the certificate's name to go on: ", end="")
    if context.stdin.readline().strip() != name:
        context.note("cancelled: nothing was changed")
        return False
    return True


def local_environment(context: Context, output: str) -> dict[str, str]:
    """The deployed function's settings for a run in this process (break-glass), else this shell's."""
    args = context.args
    deployed = context.aws.function_environment(args.stack, output)
    env: dict[str, str] = {}
    if deployed is None:
        context.note(f"stack {args.stack!r} not found: using the settings in this shell's environment")
    else:
        env = {k: v for k, v in deployed.items() if not k.startswith("AWS_")}
        deployed_bundle = env.pop("ISSUER_TRUST_BUNDLE", "")
        bundle = local_trust_bundle(deployed_bundle)  # a path inside the function's package, maybe here too
        if bundle:
            env["ISSUER_TRUST_BUNDLE"] = bundle
        elif deployed_bundle:
            # The roots decide which chains and which replacement claims are believed: never wider than the
            # function's (the default roots would trust any public CA).
            mine = os.environ.get("ISSUER_TRUST_BUNDLE", "")
            if not (mine and os.path.isfile(mine)):
                raise CliError(
                    f"the deployed ISSUER_TRUST_BUNDLE ({deployed_bundle}) is not on this machine: set "
                    "ISSUER_TRUST_BUNDLE to a copy of it: this run must trust the issuers the function trusts"
                )
            context.note(f"the deployed ISSUER_TRUST_BUNDLE is not on this machine: using {mine}")
            env["ISSUER_TRUST_BUNDLE"] = mine
    env |= {"AWS_REGION": context.aws.region, "POWERTOOLS_TRACE_DISABLED": "true"}
    if args.profile:
        env["AWS_PROFILE"] = args.profile
    return env


def _rotate_locally(context: Context, request: dict[str, Any]) -> dict[str, Any] | None:
    args = context.args
    env = local_environment(context, ROTATE_FUNCTION_OUTPUT)
    caller = context.aws.caller()
    what = "plan (dry run)" if args.dry_run else "ROTATE"
    if not confirm(
        context,
        f"Break-glass: {what} {args.name} in this process as {caller['Arn']} "
        f"(account {caller['Account']}, region {context.aws.region}).",
        args.name,
    ):
        return None
    with environment(env):
        from certrotate import wiring  # reads the environment just set

        wiring.refresh()
        try:
            if "certificate_arn" in request:
                from certrotate.rotate.request import RotationRequest

                arn = request["certificate_arn"]
                account = wiring.account_of(arn.split(":")[4]) if wiring.settings().many_accounts else None
                acm_request = RotationRequest(subject=arn, force=args.force, dry_run=args.dry_run)
                with context.progress.waiting(f"rotating {arn} here"):
                    acm = wiring.acm_rotation_service(account).rotate(
                        acm_request, deadline=time.monotonic() + LOCAL_ROTATION_SECONDS
                    )
                return acm.as_dict()
            from certrotate.rotate.request import RotationRequest

            # The function's own lease key: `<account>:<name>` with MANAGED_ACCOUNTS (the own account
            # included), so that this run and a queued rotation of the same certificate never both order.
            service = wiring.rotation_service(wiring.account_of(args.account))
            rotation = RotationRequest(subject=args.name, force=args.force, dry_run=args.dry_run)
            with context.progress.waiting(f"rotating {args.name} here"):
                result = service.rotate(rotation, deadline=time.monotonic() + LOCAL_ROTATION_SECONDS)
        finally:
            wiring.reset()
    return result.as_dict()


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- rollback -----------------------------------------------------------------------------------------------


def cmd_rollback(context: Context) -> int:
    """Asks the deployed function what it would do (a dry run: the pair is proved, nothing changes), shows it,
    asks the operator to type the name, then rolls back. `--local` runs the same in this process."""
    args = context.args
    request: dict[str, Any] = {"action": "rollback", "certificate_name": args.name}
    if args.account:
        request["account_id"] = args.account
    run_it: Callable[[dict[str, Any]], tuple[bool, Any]] = (
        (lambda r: (False, _rollback_locally(context, r)))
        if args.local
        else (lambda r: invoke(context, ROTATE_FUNCTION_OUTPUT, r, "rollback"))
    )
    if args.local:
        context.note(_break_glass(context, "ROLL BACK" if not args.dry_run else "plan a rollback of"))
    if args.dry_run or not args.yes:
        failed, planned = run_it({**request, "dry_run": True})
        if failed:
            return _function_failed(context, "rollback", planned)
        if args.dry_run:
            return _print_rollback(context, planned)
        _print_rollback(context, planned, quiet_json=True)
        subject = f"{planned['rolled_back_from']} back to {planned['certificate_name']}"
        if not confirm(context, f"Roll {subject}: the steps above will be taken.", args.name):
            return ATTENTION
    failed, result = run_it(request)
    if failed:
        return _function_failed(context, "rollback", result)
    code = _print_rollback(context, result)
    return code if result.get("status") == "rolled-back" else ATTENTION


def _print_rollback(context: Context, result: dict[str, Any], *, quiet_json: bool = False) -> int:
    if context.args.json:
        if not quiet_json:
            render.print_json(result, context.stdout)
        return OK
    out = context.out
    planned = result.get("status") == "planned"
    for step in result.get("steps", []):
        out.print(Text("· would " if planned else "✓ ", style="dim" if planned else "green") + Text(step))
    out.print(Text(f"{result['status']}: ", style="bold") + Text(str(result.get("reason", ""))))
    if result.get("status") == "rolled-back":
        out.print(
            f"{result['certificate_name']} and {result['rolled_back_from']} are held: no scan rotates or "
            f"retires them. When fixed: `certrotate rotate {result['certificate_name']} --force` serves "
            f"{result['rolled_back_from']} again (or a new certificate, once {result['rolled_back_from']} "
            "is deleted)."
        )
    return OK


def _break_glass(context: Context, what: str) -> str:
    caller = context.aws.caller()
    return (
        f"Break-glass: {what} {context.args.name} in this process as {caller['Arn']} "
        f"(account {caller['Account']}, region {context.aws.region})."
    )


def _rollback_locally(context: Context, request: dict[str, Any]) -> dict[str, Any]:
    env = local_environment(context, ROTATE_FUNCTION_OUTPUT)
    with environment(env):
        from certrotate import wiring
        from certrotate.rollback.service import RollbackRequest

        wiring.refresh()
        try:
            service = wiring.rollback_service(wiring.account_of(context.args.account))
            rollback = RollbackRequest(request["certificate_name"], dry_run=bool(request.get("dry_run")))
            with context.progress.waiting(f"rolling back {rollback.certificate_name} here"):
                result = service.rollback(rollback, deadline=time.monotonic() + LOCAL_ROTATION_SECONDS)
        finally:
            wiring.reset()
    return result.as_dict()


# -- doctor -------------------------------------------------------------------------------------------------


def cmd_doctor(context: Context) -> int:
    from certrotate_cli import doctor

    args = context.args
    aws = context.aws
    findings: list[doctor.Finding] = []
    deployment = aws.deployment(args.stack)
    if not deployment.found:
        findings.append(
            doctor.Finding("stack", doctor.Severity.PROBLEM, f"{deployment.note}: nothing deployed to check")
        )
    else:
        findings.append(doctor.Finding("stack", doctor.Severity.OK, f"stack {args.stack} in {aws.region}"))
    settings, source = context.settings()
    findings.append(doctor.Finding("stack", doctor.Severity.NOTE, f"settings: {source}"))

    # The functions' roles (central account, named by the stack's outputs), against the calls the code makes.
    required, labels = doctor.required_checks(
        deployment.outputs,
        settings,
        {Principal.SCAN: settings.member_role_name, Principal.ROTATE: aws.member_role_name(args.stack)},
        partition=aws.partition(),
        account=aws.caller()["Account"],
    )
    if required:
        with context.progress.waiting("simulating the functions' roles"):
            findings += doctor.check_permissions(aws.client("iam"), required, labels)

    target = context.target()
    found = _collect(context, settings, source)
    findings += [doctor.Finding("stack", doctor.Severity.WARNING, note) for note in found.notes]

    def eab_secret_exists(secret: str) -> bool:
        try:
            aws.client("secretsmanager").describe_secret(SecretId=secret)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    with context.progress.waiting(f"asking the CA's directory {settings.acme_directory_url}"):
        ca_findings, directory = doctor.check_directory(
            settings.acme_directory_url, settings, doctor.profiles_asked(settings, found), eab_secret_exists
        )
    findings += ca_findings
    identities = directory.caa_identities if directory else ()
    caa_lookup = None if args.no_caa else doctor.dns_caa_lookup(args.dns_server)
    zones, where = context.zones(settings)
    http01_names: dict[str, list[Any]] = {}
    if zones is None:
        findings.append(doctor.Finding("names", doctor.Severity.WARNING, f"names not checked: {where}"))
    else:
        if where != f"account {context.account_id()}":
            findings.append(doctor.Finding("names", doctor.Severity.NOTE, f"DNS-01 zones read in {where}"))
        with context.progress.waiting("checking every name: its zone or port-80 path, and its CAA"):
            name_findings, http01_names = doctor.check_names(
                found,
                zones,
                AlbHttp01(lambda region: target.client("elbv2", region)),
                caa_lookup=caa_lookup,
                identities=identities,
            )
        findings += name_findings
    findings += doctor.check_quotas(
        found,
        target.store().room(),
        settings,
        http01_names,
        lambda region, balancer: doctor.count_rules(target.client("elbv2", region), balancer),
    )
    if settings.many_accounts and deployment.found:

        def dry_run_scan() -> Any:
            failed, payload = invoke(context, SCAN_FUNCTION_OUTPUT, {"dry_run": True}, "dry-run scan")
            if failed:
                raise RuntimeError(payload.get("errorMessage") if isinstance(payload, dict) else payload)
            return payload

        findings += doctor.check_accounts(settings, dry_run_scan)

    problems = [f for f in findings if f.severity is doctor.Severity.PROBLEM]
    if args.json:
        render.print_json(
            {"findings": [f.as_dict() for f in findings], "problems": len(problems)}, context.stdout
        )
    else:
        for finding in findings:
            style = {"problem": "bold red", "warning": "yellow", "ok": "green"}.get(finding.severity.value)
            context.out.print(Text(finding.line, style=style or ""))
        context.out.print(
            Text(f"{len(problems)} problem(s) would stop a rotation", style="bold red")
            if problems
            else Text("nothing would stop a rotation", style="green")
        )
    return ATTENTION if problems else OK


# -- verify -------------------------------------------------------------------------------------------------


def cmd_verify(context: Context) -> int:
    args = context.args
    rules = [ConnectTo.parse(spec) for spec in args.connect_to]
    settings, _source = context.settings()
    target = context.target()
    store = target.store()
    listed = store.list_certificates()
    tags = store.tags_of_many([c.name for c in listed])
    certificates = [
        ServerCertificate(c.name, c.arn, c.certificate_id, c.path, c.expiration, c.upload_date, tags[c.name])
        for c in listed
    ]
    if args.name and args.name not in tags:
        raise CliError(f"no IAM server certificate is named {args.name!r}")
    every_endpoint = target.endpoints(settings.load_balancer_regions)
    with context.progress.waiting("searching every region and CloudFront"):
        endpoints = every_endpoint.discover(include_cloudfront=True).endpoints
    reach = connector(rules, context.connect)
    checker = EndpointChecker(
        store=store,
        pems=store,
        endpoints=every_endpoint,
        addresses=target.addresses(),
        fetch=lambda host, port, name: fetch_certificates(
            host, port, name, timeout=args.timeout, connect=reach
        ),
    )
    results: list[CheckResult] = []
    chosen = [c for c in certificates if args.name is None or c.name == args.name]
    with context.progress.counting("handshakes", len(chosen)) as advance:
        for cert in chosen:
            results.extend(checker.check(cert.name, certificates=certificates, endpoints=endpoints))
            advance(1)
    if args.json:
        render.print_json({"results": [r.as_dict() for r in results]}, context.stdout)
    else:
        render.verify_table(results, context.out)
    failed = any(r.status.is_mismatch or r.status is CheckStatus.UNREACHABLE for r in results)
    return ATTENTION if failed else OK


COMMANDS: dict[str, Callable[[Context], int]] = {
    "status": cmd_status,
    "plan": cmd_plan,
    "rotate": cmd_rotate,
    "rollback": cmd_rollback,
    "verify": cmd_verify,
    "doctor": cmd_doctor,
}

__all__ = ["COMMANDS", "USAGE", "Context", "parser", "run"]
