"""A CA's revocation drill at fleet scale (issue 25): N managed certificates issued by acme2certifier (the
devstack's CA with ARI), each the default certificate of its own ALB's HTTPS listener, the ALBs spread over
three regions; the CA moves every renewal window into the past (acme2certifier's `renewal_force`, what a CA
does before it revokes), and the stack reacts with the schedule and settings the template ships.

Set-up (not timed, no rate limit): the N certificates are ordered from acme2certifier by this process (the
`acme` library, DNS-01 in the fake Route 53) and uploaded to IAM, managed; a scheduled scan learns every
renewal window (the CA answers with a Retry-After of one minute) and, one certificate being due, searches
every region and keeps in its index where each certificate is served (the state of a stack whose daily scan
rotated something within the day; `--no-records`: a stack whose index keeps no search, so the re-check
searches once). The cost of the hourly re-check is measured twice: with nothing to ask (every Retry-After
ahead) and with every certificate asked and no window moved.

The drill (timed, with the devstack's token buckets at AWS's documented rates, devstack.ratelimits): the CA
moves every window into the past; once every kept Retry-After has passed, the re-check runs as its schedule
would fire (`{"renewal_info_only": true}`, a new scan container), and the rotate containers drain the queue
as Lambda's event source mapping does (BatchSize 1, the template's MaximumConcurrency, each message received
as soon as it is sent). Timed from the re-check's spawn to the last rotation's end; every listener is then
read to check it serves a new certificate. With the schedule's period P (template: rate(1 hour)), a window
the CA moves is seen at most P after the CA's Retry-After, plus the re-check's time to its first message:
that is the "noticed within" figure (P is modelled, the rest measured).

The floor, and what it counts:
- Route 53 (documented: 5 requests per second per account): the challenge changes alone, a CREATE and a DELETE
  per certificate (one name each), 2N / 5 s; and the Route 53 calls the design makes (those let through: the
  zones, the changes, GetChange until INSYNC) / 5.
- The CA: Let's Encrypt exempts an order that names the certificate it `replaces` (ARI) from every rate limit;
  acme2certifier has none: no floor from the CA (its speed on this machine is measured instead).
- ELB mutations: one ModifyListener per certificate, per region; the devstack's bucket (10 + 2/s) is an
  assumption (the documented table could not be read), so this floor is reported apart.
- IAM (AWS publishes no rate; the devstack assumes 20 + 10/s per account): the IAM calls made / 10, apart.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from certrotate.model.certificates import RenewalSchedule

from benchmarks.common import (
    ZONE,
    World,
    create_albs,
    fmt_s,
    fresh_world,
    log,
    seed,
    stopwatch,
    table,
)
from benchmarks.esm import Container, EventSourceMapping
from benchmarks.throughput import DAYS_LEFT, scheduled_event
from devstack import fixtures, lambda_runner, moto_fixes
from devstack.acme2certifier import Acme2Certifier
from devstack.stack import LocalStack, start_dns_on_port_53

RETRY_AFTER_SECONDS = 60  # the shortest Retry-After certrotate honours (RFC 9773's clamp: 1 minute)
ROUTE53_RATE = 5.0  # documented: requests per second per account
IAM_RATE = 10.0  # assumed (devstack.ratelimits)
ELB_MUTATION_RATE, ELB_MUTATION_BURST = 2.0, 10.0  # assumed, per region (devstack.ratelimits)
DEFAULT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
# Lambda memory (GB) of each function, as the template sets it.
MEMORY_GB = {"ScanFunction": 256 / 1024, "RotateFunction": 512 / 1024}
RECHECK_EVENT = {"renewal_info_only": True}
# The re-check's step whose wall-clock spans its container reports (benchmarks.worker, BENCH_TIMED).
RECHECK_SPANS = "certrotate.adapters.aws.queue:SqsRotationQueue.send"
# What the simulated event source mapping itself calls (Lambda's pollers), apart from certrotate's calls.
ESM_CALLS = {("sqs", "ReceiveMessage"), ("sqs", "DeleteMessage"), ("sqs", "ChangeMessageVisibility")}


# -- set-up: certificates from acme2certifier -------------------------------------------------------------


class Issuer:
    """Orders certificates from the CA for the seeding: one account, DNS-01 in the fake Route 53."""

    def __init__(self, world: World, directory_url: str, ca_bundle: str) -> None:
        import josepy as jose
        from acme import client as acme_client
        from acme import messages
        from cryptography.hazmat.primitives.asymmetric import ec

        os.environ["REQUESTS_CA_BUNDLE"] = ca_bundle  # requests (acme's network) trusts the CA's TLS
        self.world = world
        key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        self._net = acme_client.ClientNetwork(key, alg=jose.ES256, user_agent="certrotate-bench-drill")
        directory = acme_client.ClientV2.get_directory(directory_url, self._net)
        self._client = acme_client.ClientV2(directory, self._net)
        self._client.new_account(
            messages.NewRegistration.from_data(email="drill@example.com", terms_of_service_agreed=True)
        )
        self._lock = threading.Lock()  # acme's ClientNetwork keeps one nonce: one request at a time

    def issue(self, name: str, key_pem: bytes) -> str:
        """The full chain (PEM) of a new certificate for `name`."""
        from acme import challenges, crypto_util, messages

        route53 = self.world.client("route53")
        with self._lock:
            order = self._client.new_order(crypto_util.make_csr(key_pem, [name]))
        record = f"_acme-challenge.{name}."

        def change(action: str, validation: str) -> None:
            route53.change_resource_record_sets(
                HostedZoneId=self.world.zone_id,
                ChangeBatch={
                    "Changes": [
                        {
                            "Action": action,
                            "ResourceRecordSet": {
                                "Name": record,
                                "Type": "TXT",
                                "TTL": 60,
                                "ResourceRecords": [{"Value": f'"{validation}"'}],
                            },
                        }
                    ]
                },
            )

        for authz in order.authorizations:
            challenge = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01))
            validation = challenge.chall.validation(self._net.key)
            change("UPSERT", validation)
            with self._lock:
                self._client.answer_challenge(challenge, challenge.chall.response(self._net.key))
            for _ in range(200):
                with self._lock:
                    authz, _response = self._client.poll(authz)
                if authz.body.status != messages.STATUS_PENDING:
                    break
                time.sleep(0.05)
            change("DELETE", validation)  # as a client cleans up: the rotation's CREATE then meets no set
            if authz.body.status != messages.STATUS_VALID:
                raise RuntimeError(f"the CA did not validate {name}: {authz.body.status}")
        with self._lock:
            order = self._client.begin_finalization(order)
        for _ in range(200):
            if order.body.status == messages.STATUS_VALID and order.body.certificate:
                break
            time.sleep(0.05)
            with self._lock:
                response = self._net.post(order.uri, None, new_nonce_url=self._client.directory["newNonce"])
            order = order.update(body=messages.Order.from_json(response.json()))
        with self._lock:
            response = self._net.post(
                order.body.certificate, None, new_nonce_url=self._client.directory["newNonce"]
            )
        return str(response.text)


def _split_chain(fullchain: str) -> tuple[str, str]:
    marker = "-----END CERTIFICATE-----"
    parts = [p + marker + "\n" for p in fullchain.split(marker) if p.strip()]
    return parts[0].strip() + "\n", "".join(parts[1:]).strip() + "\n" if len(parts) > 1 else ""


def seed_from_ca(world: World, issuer: Issuer, count: int, threads: int = 8) -> list[dict[str, Any]]:
    """N managed IAM server certificates `drill-<i>` for `d<i>.<zone>`, issued by the CA (one shared key)."""
    from cryptography.hazmat.primitives import serialization

    key = fixtures.generate_key("ec256")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    iam = world.client("iam")
    done = Counter[str]()

    def one(index: int) -> dict[str, Any]:
        fullchain = issuer.issue(f"d{index}.{ZONE}", key_pem)
        body, chain = _split_chain(fullchain)
        upload: dict[str, Any] = {
            "ServerCertificateName": f"drill-{index:04d}",
            "CertificateBody": body,
            "PrivateKey": key_pem.decode(),
            "Tags": [{"Key": fixtures.MANAGED_TAG, "Value": "true"}],
        }
        if chain.strip():
            upload["CertificateChain"] = chain
        meta: dict[str, Any] = iam.upload_server_certificate(**upload)["ServerCertificateMetadata"]
        done["n"] += 1
        if done["n"] % 100 == 0:
            log(f"drill: {done['n']}/{count} certificates issued by the CA")
        return meta

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(count)))


# -- the drill -----------------------------------------------------------------------------------------------


def _template_settings() -> dict[str, Any]:
    template = lambda_runner.template()
    parameters = template.parameters
    return {
        "concurrency": int(parameters["RotationMaximumConcurrency"]["Default"]),
        "recheck_schedule": str(parameters["RenewalInfoSchedule"]["Default"]),
    }


def _period_seconds(expression: str) -> float:
    """rate(N unit) in seconds (the template's default is a rate); cron: unknown."""
    if not expression.startswith("rate("):
        return math.nan
    amount, unit = expression[5:-1].split()
    return float(amount) * {"minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]


def _invoke_scan(world: World, event: dict[str, Any], log_path: Path) -> dict[str, Any]:
    """One scan invocation in a new container (a cold start), with its wall time and the calls it made."""
    before = world.stack.calls.snapshot()
    with Container("ScanFunction", world.env, log_path) as scanner:
        reply = scanner.call(event)
    if "error" in reply:
        raise RuntimeError(f"the scan failed: {reply['error']} (see {log_path})")
    after = world.stack.calls.snapshot()
    reply["calls"] = {
        f"{s}:{a}": n - before.get((s, a), 0) for (s, a), n in after.items() if n > before.get((s, a), 0)
    }
    return reply


def _wait_for_asks(world: World, log_path: Path) -> float:
    """Seconds waited until every renewal time kept in the index may be asked again (its `ask` passed)."""
    import sys

    from benchmarks.common import LAYER

    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))
    from certrotate.model import scan_index
    from certrotate.names import RENEWAL_TAG

    [item] = [
        i
        for i in world.client("dynamodb").scan(TableName=world.env["LEASE_TABLE_NAME"])["Items"]
        if i["certificate"]["S"].startswith("#scan-index")
    ]
    entries = scan_index.decode(bytes(item["index"]["B"]))
    asks = [
        schedule.next_ask
        for entry in entries.values()
        if (schedule := RenewalSchedule.parse(entry.tags.get(RENEWAL_TAG))) is not None
    ]
    wait = max(0.0, max(a.timestamp() for a in asks) - time.time()) + 1.0 if asks else 0.0
    log(f"drill: waiting {wait:.0f} s for the CA's Retry-After to pass on every certificate")
    time.sleep(wait)
    return wait


def run(
    count: int = 100,
    regions: list[str] | None = None,
    with_records: bool = True,
    concurrency: int | None = None,
    patches: list[str] | None = None,
    insync_seconds: float = 0.0,
) -> dict[str, Any]:
    """`insync_seconds`: each Route 53 change stays PENDING that long (a model of propagation, which Route 53
    says takes "generally within 60 seconds"; 0: the devstack's default, PENDING for one poll)."""
    regions = list(regions or DEFAULT_REGIONS)
    settings = _template_settings()
    concurrency = concurrency or settings["concurrency"]
    work = Path(tempfile.mkdtemp(prefix="certrotate-bench-drill-"))
    log(f"drill: N = {count}, {len(regions)} regions, {concurrency} rotate containers; logs in {work}")
    stack = LocalStack(with_pebble=False).start()
    # Kept in the work directory (it survives): what the CA decided on each challenge, and what DNS answered.
    dns = start_dns_on_port_53(query_log=work / "dns-queries.log")
    ca = Acme2Certifier(
        dns_address=dns.address, retry_after_seconds=RETRY_AFTER_SECONDS, keep_log=work / "acme2certifier.log"
    ).start()
    try:
        world = fresh_world(
            stack,
            ACME_DIRECTORY_URL=ca.directory_url,
            REQUESTS_CA_BUNDLE=ca.tls_ca_path,
            ISSUER_TRUST_BUNDLE=ca.issuer_roots_path,
            RENEW_BEFORE_DAYS="",  # the template's default: the CA's window decides
        )
        world.insync_seconds = insync_seconds  # type: ignore[attr-defined]
        result = _drill(world, ca, count, regions, with_records, concurrency, settings, work, patches or [])
        result["insync_seconds"] = insync_seconds
    finally:
        ca.stop()
        dns.stop()
        stack.stop()
    return render(result)


def _drill(
    world: World,
    ca: Acme2Certifier,
    count: int,
    regions: list[str],
    with_records: bool,
    concurrency: int,
    settings: dict[str, Any],
    work: Path,
    patches: list[str],
) -> dict[str, Any]:
    stack = world.stack
    with stopwatch() as seeding:
        issuer = Issuer(world, ca.directory_url, ca.tls_ca_path)
        metas = seed_from_ca(world, issuer, count)
    log(f"drill: {count} certificates issued in {fmt_s(seeding[0])}; creating {count} ALBs")
    with stopwatch() as building:
        listeners = create_albs(world, [m["Arn"] for m in metas], prefix="drill", regions=regions)
    log(f"drill: ALBs in {fmt_s(building[0])}")
    # The scan learns every window; with a due certificate it also searches and keeps where each is served.
    primer = None
    if with_records:
        primer = seed(world, "drill-primer", [f"primer.{ZONE}"], DAYS_LEFT)
        world.env["RENEW_BEFORE_DAYS"] = "30"  # only the primer (an hour old, expiring in days) is due
    first = _invoke_scan(world, scheduled_event(), work / "scan-first.log")
    world.env["RENEW_BEFORE_DAYS"] = ""
    if primer is not None:
        world.client("iam").delete_server_certificate(ServerCertificateName="drill-primer")
    world.client("sqs").purge_queue(QueueUrl=world.queue_url)
    log(f"drill: first scan {fmt_s(first['import_s'] + first['seconds'])}: {first['result']['notes'][-3:]}")

    # The re-check's cost, as the schedule runs it hour after hour: nothing to ask (every Retry-After ahead),
    # then (once they have passed) every certificate asked and no window moved.
    idle = _invoke_scan(world, RECHECK_EVENT, work / "recheck-idle.log")
    _wait_for_asks(world, work / "wait.log")
    asked_before = ca.renewal_info_gets()
    all_asked = _invoke_scan(world, RECHECK_EVENT, work / "recheck-all.log")
    all_asked["ari_gets"] = ca.renewal_info_gets() - asked_before
    if all_asked["result"]["enqueued"]:
        raise RuntimeError(f"a re-check with no window moved sent rotations: {all_asked['result']}")

    # The drill.
    ca.reconfigure(renewal_force=True)
    moved_at = time.time()
    waited = _wait_for_asks(world, work / "wait-drill.log")
    stack.limits.enable_aws_rates()
    moto_fixes.set_route53_insync_after(getattr(world, "insync_seconds", 0.0))
    before = stack.calls.snapshot()
    orders_before = ca.orders_placed()
    recheck_env = {**world.env, "BENCH_TIMED": RECHECK_SPANS}
    replies: dict[str, Any] = {}
    running = {"on": True}

    def recheck(scanner: Container) -> None:
        try:
            replies["recheck"] = scanner.call(RECHECK_EVENT)
        finally:
            running["on"] = False

    fired = time.time()
    with (
        Container("ScanFunction", recheck_env, work / "recheck-drill.log") as scanner,
        EventSourceMapping(world, concurrency=concurrency, patches=patches, env={"BENCH_PHASES": "1"}) as esm,
    ):
        thread = threading.Thread(target=recheck, args=(scanner,))
        thread.start()
        drain = esm.drain(producing=lambda: running["on"])
        thread.join()
        # Read before the mapping deletes its containers' logs: batches whose close left a member out (the
        # member published alone: dns_batching.py), and batches given up on.
        batch_warnings = _count_in_logs(
            Path(drain.log_dir),
            {
                "left_out": "did not publish our values",
                "abandoned": "gave up waiting for the DNS-01 batch",
                "failed": "the DNS-01 batch's change failed",
            },
        )
    after = stack.calls.snapshot()
    limited = stack.limits.throttled()
    stack.limits.disable()
    reply = replies["recheck"]
    if "error" in reply:
        raise RuntimeError(f"the drill's re-check failed: {reply['error']}")
    ends = [float(i.reply["end"]) for i in drain.invocations]
    finished = max([*ends, float(reply["end"])])
    sends = reply.get("spans", {}).get("SqsRotationQueue.send", [])
    from benchmarks.throughput import served_by_new

    repointed = served_by_new(
        world, [{"meta": m, "listener": listener} for m, listener in zip(metas, listeners, strict=True)]
    )
    calls = {
        (s, a): n - before.get((s, a), 0)
        for (s, a), n in after.items()
        if n > before.get((s, a), 0) and (s, a) not in ESM_CALLS
    }
    esm_calls = {f"{s}:{a}": after.get((s, a), 0) - before.get((s, a), 0) for (s, a) in ESM_CALLS}
    return {
        "esm_calls": esm_calls,
        "count": count,
        "regions": regions,
        "concurrency": concurrency,
        "with_records": with_records,
        "patches": patches,
        "settings": settings,
        "seeding_s": seeding[0],
        "albs_s": building[0],
        "first_scan": {"seconds": first["import_s"] + first["seconds"], "calls": first["calls"]},
        "recheck_idle": _scan_cost(idle),
        "recheck_all_asked": {**_scan_cost(all_asked), "ari_gets": all_asked["ari_gets"]},
        "moved_to_fired_s": fired - moved_at,
        "retry_after_wait_s": waited,
        "drill_s": finished - fired,
        "recheck": {
            **_scan_cost(reply),
            "first_send_s": (sends[0][0] - fired) if sends else math.nan,
            "last_send_s": (sends[-1][1] - fired) if sends else math.nan,
            "enqueued": len(reply["result"]["enqueued"]),
        },
        "rotations": [
            {
                "start": float(i.reply["start"]) - fired,
                "end": float(i.reply["end"]) - fired,
                "seconds": i.seconds,
                "import_s": i.import_s,
                "cold": i.cold,
                "failed": i.failed,
                "maxrss_mb": float(i.reply.get("maxrss_mb", 0.0)),
                "phases": i.reply.get("phases", {}),
            }
            for i in drain.invocations
        ],
        "dead_letters": drain.dead_letters,
        "repointed": repointed,
        "orders": ca.orders_placed() - orders_before,
        "batch_warnings": batch_warnings,
        "calls": {f"{s}:{a}": n for (s, a), n in sorted(calls.items())},
        "throttled": {f"{s}:{a}": n for (s, a), n in sorted(limited.items())},
    }


def _count_in_logs(log_dir: Path, phrases: dict[str, str]) -> dict[str, int]:
    """How many lines of the containers' logs hold each phrase."""
    counts = dict.fromkeys(phrases, 0)
    for path in log_dir.glob("container-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            for name, phrase in phrases.items():
                counts[name] += phrase in line
    return counts


def _scan_cost(reply: dict[str, Any]) -> dict[str, Any]:
    seconds = float(reply.get("import_s", 0.0)) + float(reply["seconds"])
    return {
        "seconds": seconds,
        "import_s": float(reply.get("import_s", 0.0)),
        "gb_s": seconds * MEMORY_GB["ScanFunction"],
        "maxrss_mb": float(reply.get("maxrss_mb", 0.0)),
        "calls": reply.get("calls", {}),
        "notes": (reply.get("result") or {}).get("notes", [])[:3],
    }


def floors(result: dict[str, Any]) -> dict[str, float]:
    count, calls, throttled = result["count"], result["calls"], result["throttled"]
    regions = len(result["regions"])

    def sent(service: str, action: str | None = None) -> int:
        return sum(
            n
            for k, n in calls.items()
            if k.split(":")[0] == service and (action is None or k.endswith(":" + action))
        )

    def refused(service: str) -> int:
        return sum(n for k, n in throttled.items() if k.split(":")[0] == service)

    per_region = math.ceil(count / regions)
    return {
        "route53_changes": 2 * count / ROUTE53_RATE,
        "route53_design": (sent("route53") - refused("route53")) / ROUTE53_RATE,
        "elb_mutations_assumed": max(0.0, per_region - ELB_MUTATION_BURST) / ELB_MUTATION_RATE,
        "iam_assumed": (sent("iam") - refused("iam")) / IAM_RATE,
    }


def render(result: dict[str, Any]) -> dict[str, Any]:
    count = result["count"]
    rotations = result["rotations"]
    done = [r for r in rotations if not r["failed"]]
    floor = floors(result)
    drill = result["drill_s"]
    gb_s_rotate = sum(
        ((r["import_s"] if r["cold"] else 0.0) + r["seconds"]) * MEMORY_GB["RotateFunction"]
        for r in rotations
    )
    gb_s_scan = result["recheck"]["gb_s"]
    calls = result["calls"]
    by_service = Counter[str]()
    for key, n in calls.items():
        by_service[key.split(":")[0]] += n
    period = _period_seconds(result["settings"]["recheck_schedule"])
    noticed = period + result["recheck"]["first_send_s"]
    busy = sorted((r["start"], r["end"]) for r in rotations)
    lines = [
        f"== Revocation drill: N = {count} certificates of acme2certifier, {count} ALBs over "
        f"{len(result['regions'])} regions, {result['concurrency']} rotate containers "
        + (
            "(the template's MaximumConcurrency)"
            if result["concurrency"] == result["settings"]["concurrency"]
            else f"(the template's MaximumConcurrency: {result['settings']['concurrency']})"
        )
        + ", AWS's rates (devstack.ratelimits)"
        + ("" if result["with_records"] else "; the index keeps no search (the re-check searches)")
        + (
            f"; Route 53 changes INSYNC {result['insync_seconds']:g} s after submission"
            if result.get("insync_seconds")
            else "; Route 53 changes PENDING for one poll (the devstack's default)"
        )
        + (f"; patched: {', '.join(result['patches'])}" if result["patches"] else ""),
        f"   set-up: {count} certificates issued by the CA in {fmt_s(result['seeding_s'])}, ALBs in "
        f"{fmt_s(result['albs_s'])}, first scan {fmt_s(result['first_scan']['seconds'])}",
        f"   result: {len(done)} rotations succeeded, {len(rotations) - len(done)} invocations failed, "
        f"{result['dead_letters']} dead-lettered; {result['repointed']}/{count} listeners serve a new "
        f"certificate; {result['orders']} orders; DNS-01 batches: "
        + ", ".join(f"{n} {what}" for what, n in result.get("batch_warnings", {}).items()),
        f"   the CA moved its windows; every Retry-After passed {fmt_s(result['retry_after_wait_s'])} later; "
        f"the re-check (as its schedule, {result['settings']['recheck_schedule']}, fires) sent its first "
        f"rotation {fmt_s(result['recheck']['first_send_s'])} after its spawn, the last "
        f"{fmt_s(result['recheck']['last_send_s'])} ({result['recheck']['enqueued']} sent), ran "
        f"{fmt_s(result['recheck']['seconds'])} in all",
        f"   noticed within: at most {fmt_s(noticed)} after the CA's Retry-After (the schedule's period "
        f"{fmt_s(period)}, modelled, + {fmt_s(result['recheck']['first_send_s'])} to the first message, "
        "measured)",
        f"   drill: {fmt_s(drill)} from the re-check's spawn to the last endpoint serving its replacement; "
        f"first rotation began {fmt_s(busy[0][0]) if busy else '-'}",
    ]
    rows = [
        [
            "Route 53 challenge changes (CREATE + DELETE per certificate, 5/s, documented)",
            fmt_s(floor["route53_changes"]),
            f"{drill / floor['route53_changes']:.2f}x",
        ],
        [
            "Route 53 calls this design makes (let through) / 5 per s",
            fmt_s(floor["route53_design"]),
            f"{drill / floor['route53_design']:.2f}x" if floor["route53_design"] else "-",
        ],
        ["the CA (ARI `replaces`: exempt from Let's Encrypt's limits)", "0 s", "-"],
        [
            "ELB ModifyListener per region at 10 + 2/s (assumed)",
            fmt_s(floor["elb_mutations_assumed"]),
            f"{drill / floor['elb_mutations_assumed']:.2f}x" if floor["elb_mutations_assumed"] else "-",
        ],
        [
            "IAM calls made / 10 per s (assumed)",
            fmt_s(floor["iam_assumed"]),
            f"{drill / floor['iam_assumed']:.2f}x" if floor["iam_assumed"] else "-",
        ],
    ]
    lines.append(table(rows, ["floor", "seconds", "drill / floor"]))
    per_cert = {service: n / count for service, n in sorted(by_service.items())}
    lines.append(
        "   AWS calls per certificate (sent, throttled retries included): "
        + ", ".join(f"{s} {n:.1f}" for s, n in per_cert.items())
        + f"; {sum(by_service.values()) / count:.1f} in all"
    )
    lines.append("   throttled: " + (", ".join(f"{k} {n}" for k, n in result["throttled"].items()) or "none"))
    lines.append(
        f"   Lambda: {gb_s_rotate / count:.2f} GB-s per certificate in rotations ({gb_s_rotate:.0f} GB-s), "
        f"the re-check {gb_s_scan:.1f} GB-s; per rotation median "
        f"{fmt_s(_median([r['seconds'] for r in done]))}, cold "
        f"{fmt_s(_median([r['import_s'] + r['seconds'] for r in done if r['cold']]))}"
    )
    phase_means = _phase_means(done)
    if phase_means:
        lines.append(
            "   where a rotation's time goes (means over the drill's rotations; waits for throttled calls "
            "fall in the step that made them):"
        )
        lines.append(table([[label, fmt_s(seconds)] for label, seconds in phase_means.items()], ["step", ""]))
    peak = max((r["maxrss_mb"] for r in rotations), default=0.0)
    lines.append(
        f"   peak memory (VmHWM): rotate containers {peak:.0f} MB, the re-check "
        f"{result['recheck']['maxrss_mb']:.0f} MB"
    )
    idle, asked = result["recheck_idle"], result["recheck_all_asked"]
    lines.append(
        f"   the re-check's cost at N = {count}, cold: nothing to ask {fmt_s(idle['seconds'])} "
        f"({idle['gb_s']:.3f} GB-s, {idle['maxrss_mb']:.0f} MB; calls {idle['calls']}); every certificate "
        f"asked, no window moved {fmt_s(asked['seconds'])} ({asked['gb_s']:.3f} GB-s, "
        f"{asked['maxrss_mb']:.0f} MB; "
        f"{asked['ari_gets']} GETs to the CA; calls {asked['calls']})"
    )
    text = "\n".join(lines)
    print(text, flush=True)
    return {
        "name": "drill",
        **result,
        "floors": floor,
        "ratio_route53_changes": drill / floor["route53_changes"],
        "ratio_route53_design": drill / floor["route53_design"] if floor["route53_design"] else None,
        "gb_s_per_certificate": gb_s_rotate / count,
        "phase_means": phase_means,
        "calls_per_certificate": per_cert,
        "peak_rss_mb": peak,
        "noticed_within_s": noticed,
        "text": text,
    }


def _phase_means(rotations: list[dict[str, Any]]) -> dict[str, float]:
    """Mean seconds per step (benchmarks.timers.PHASES) over the rotations, with the invocation as a whole."""
    timed = [r for r in rotations if r.get("phases")]
    if not timed:
        return {}
    from benchmarks.timers import PHASES

    seen = {label for r in timed for label in r["phases"]}
    labels = [label for label, _module, _path in PHASES if label in seen]
    means = {"invocation, whole": sum(r["seconds"] for r in timed) / len(timed)}
    means.update({label: sum(r["phases"].get(label, 0.0) for r in timed) / len(timed) for label in labels})
    return means


def _median(values: list[float]) -> float:
    from benchmarks.common import median

    return median(values)


if __name__ == "__main__":  # pragma: no cover - `python -m benchmarks drill` is the way in
    print(json.dumps(run(), default=str)[:200])
