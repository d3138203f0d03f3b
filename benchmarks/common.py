"""What every benchmark shares: a world on the local stack, fast seeding, timing and table printing."""

from __future__ import annotations

import math
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "certrotate"
for _path in (str(ROOT),):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from devstack import fixtures, moto_fixes  # noqa: E402
from devstack.stack import LocalStack  # noqa: E402

ZONE = "example.com"
ACCOUNT_SECRET = "certrotate/acme-account"
# The production queue (template.yaml RotationQueue): FIFO, 5400 s visibility, redrive after 5 receives.
QUEUE_VISIBILITY = 5400
MAX_RECEIVES = 5
QUOTA = 5000  # IAM server certificate quota on the fake account (the default 20 would stop any benchmark)


def log(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Statistics and formatting
# ------------------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else math.nan


def percentile(values: Iterable[float], q: float) -> float:
    data = sorted(values)
    if not data:
        return math.nan
    index = min(len(data) - 1, max(0, math.ceil(q * len(data)) - 1))
    return data[index]


def fmt_s(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    cells = [[str(c) for c in row] for row in ([header] if header else []) + list(rows)]
    if not cells:
        return ""
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(max(map(len, cells)))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        if header and n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then t[0] is the elapsed seconds."""
    box: list[float] = [math.nan]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start


# ------------------------------------------------------------------------------------------------
# The world
# ------------------------------------------------------------------------------------------------


@dataclass
class World:
    """One fresh fake AWS account on a running stack, set up as the template would: hosted zone, FIFO
    rotation queue, the (empty) ACME account secret, and the environment the functions get."""

    stack: LocalStack
    zone_id: str
    queue_url: str
    env: dict[str, str]
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str, region: str | None = None) -> Any:
        key = service if region is None else f"{service}@{region}"
        if key not in self.clients:
            self.clients[key] = self.stack.client(service, region)
        return self.clients[key]


def start_stack(with_pebble: bool = True) -> LocalStack:
    log("starting the local stack (moto server, DNS from Route 53" + (", pebble)" if with_pebble else ")"))
    return LocalStack(with_pebble=with_pebble).start()


def fresh_world(stack: LocalStack, **settings: str) -> World:
    stack.reset_aws()
    moto_fixes.set_server_certificate_quota(QUOTA)
    route53 = stack.client("route53")
    zone_id = fixtures.create_hosted_zone(route53, ZONE)
    sqs = stack.client("sqs")
    queue_url = sqs.create_queue(
        QueueName=f"bench-{uuid.uuid4().hex[:8]}-rotation.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": str(QUEUE_VISIBILITY)},
    )["QueueUrl"]
    # The template creates the account secret without a value; the first rotation registers and fills it.
    stack.client("secretsmanager").create_secret(Name=ACCOUNT_SECRET, Description="ACME account (bench)")
    lease_table = fixtures.create_lease_table(stack.client("dynamodb"))
    env = {
        **stack.env(),
        "ACME_ACCOUNT_SECRET_ID": ACCOUNT_SECRET,
        "LEASE_TABLE_NAME": lease_table,
        "ACME_EMAIL": "ops@example.com",
        "ROTATION_QUEUE_URL": queue_url,
        "RENEW_BEFORE_DAYS": "30",  # seeded certificates are an hour old: the floor makes them due
        "POWERTOOLS_SERVICE_NAME": "certrotate",
        **settings,
    }
    return World(stack=stack, zone_id=zone_id, queue_url=queue_url, env=env)


_shared_keys: dict[str, Any] = {}
_keys_lock = threading.Lock()


def shared_key(kind: fixtures.KeyKind = "rsa2048") -> Any:
    """One key per kind for every seeded certificate: generating a thousand RSA keys is slow, and the old
    key does not matter to a rotation (the replacement always gets a new one)."""
    with _keys_lock:
        if kind not in _shared_keys:
            _shared_keys[kind] = fixtures.generate_key(kind)
        return _shared_keys[kind]


def seed(
    world: World,
    name: str,
    dns_names: Sequence[str],
    days_left: float,
    *,
    managed: bool = True,
    key: fixtures.KeyKind = "rsa2048",
) -> dict[str, Any]:
    """An IAM server certificate (like fixtures.seed_certificate, with a shared key)."""
    issued = fixtures.make_certificate(dns_names, days_left, key=shared_key(key))
    kwargs: dict[str, Any] = {
        "ServerCertificateName": name,
        "Path": "/",
        "CertificateBody": issued.cert_pem,
        "PrivateKey": issued.key_pem,
        "CertificateChain": issued.chain_pem,
    }
    if managed:
        kwargs["Tags"] = [{"Key": fixtures.MANAGED_TAG, "Value": "true"}]
    meta: dict[str, Any] = world.client("iam").upload_server_certificate(**kwargs)[
        "ServerCertificateMetadata"
    ]
    return meta


def parallel(func: Callable[[Any], Any], items: Sequence[Any], threads: int = 8) -> list[Any]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(func, items))


def create_albs(
    world: World, certificate_arns: Sequence[str], prefix: str = "bench", regions: Sequence[str] = ()
) -> list[Any]:
    """One internal ALB with one HTTPS listener per certificate ARN, one VPC per region; with `regions`,
    the i-th ALB is in regions[i % len(regions)] (IAM certificates are global: any region may serve one),
    else all are in the stack's region."""
    regions = list(regions) or [world.stack.region]
    networks = {r: fixtures.create_vpc_with_subnets(world.client("ec2", r), r) for r in regions}

    def make(item: tuple[int, str]) -> Any:
        index, arn = item
        region = regions[index % len(regions)]
        return fixtures.create_alb_https_listener(
            world.client("elbv2", region),
            world.client("ec2", region),
            arn,
            name=f"{prefix}-{index}-{uuid.uuid4().hex[:6]}",
            network=networks[region],
        )

    return parallel(make, list(enumerate(certificate_arns)))


def machine() -> dict[str, str]:
    import platform

    return {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "date": time.strftime("%Y-%m-%d"),
        "code": code_version(),
    }


def code_version() -> str:
    """The commit of the code under test, and whether it has uncommitted changes."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "layers", "functions", "template.yaml", "devstack")
    return commit + (" + uncommitted changes to the code under test" if dirty else "")


def run_probe(
    what: str, *args: str, env: dict[str, str] | None = None, log_path: Path | None = None
) -> dict[str, Any]:
    """Runs benchmarks.probe in a fresh interpreter and returns its JSON result (plus wall_s: the whole
    process, interpreter start included)."""
    import json
    import subprocess
    import tempfile

    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")}
    process_env = {**base, **(env or {}), "PYTHONPATH": str(ROOT)}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        spawned_at = time.time()
        started = time.perf_counter()
        with open(log_path or os.devnull, "ab") as sink:
            completed = subprocess.run(
                [sys.executable, "-m", "benchmarks.probe", str(out), what, *args],
                cwd=ROOT,
                env=process_env,
                stdout=sink,
                stderr=subprocess.PIPE,
                check=False,
            )
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"probe {what} failed: {completed.stderr.decode()[-2000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
        result["wall_s"] = wall
        result["spawned_at"] = spawned_at
        return result
    finally:
        out.unlink(missing_ok=True)


@contextmanager
def aws_hook(stack: LocalStack, hook: Callable[[str, str | None, str], Any]) -> Iterator[None]:
    """Runs `hook(service, action, region)` on every AWS call the moto server receives (region: the one
    the call was signed for), before the call is answered; a Fault it returns is served instead
    (devstack.faults.Fault), None lets the call through. Hooks nest."""
    injector = stack.faults
    own = "take" in vars(injector)
    previous = injector.take

    def take(service: str, action: str | None, region: str = "") -> Any:
        fault = hook(service, action, region)
        return fault if fault is not None else previous(service, action, region)

    injector.take = take  # type: ignore[method-assign]
    try:
        yield
    finally:
        if own:
            injector.take = previous  # type: ignore[method-assign]
        else:
            del injector.take


@contextmanager
def aws_latency(stack: LocalStack, seconds: float) -> Iterator[None]:
    """Every AWS call takes at least `seconds` longer (a model of a real API's round trip; moto answers in a
    few milliseconds). The server is threaded, so concurrent calls wait concurrently, as with real AWS."""
    if seconds <= 0:
        yield
        return
    with aws_hook(stack, lambda service, action, region: time.sleep(seconds)):
        yield
