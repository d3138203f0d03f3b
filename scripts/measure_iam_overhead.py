"""What the local stack's IAM enforcement adds per AWS call (docs/performance.md).

    .venv/bin/python scripts/measure_iam_overhead.py [rotations]

Seeds `rotations` managed certificates, each on an ALB listener, runs a scan and a rotation of each through
the functions (as the e2e tests do), five times with enforcement and five without, alternated. Prints the
calls authorised, the time spent authorising them (devstack.iam_enforcement's own clock, per call), and the
wall time of both.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "certrotate")]

from devstack import fixtures, lambda_runner, moto_fixes  # noqa: E402
from devstack.stack import LocalStack  # noqa: E402


def run(stack: LocalStack, rotations: int) -> float:
    stack.reset_aws()
    moto_fixes.set_enabled_regions(("us-east-1",))
    iam, ec2, elbv2 = stack.client("iam"), stack.client("ec2"), stack.client("elbv2")
    fixtures.create_hosted_zone(stack.client("route53"), "example.com")
    queue = stack.client("sqs").create_queue(QueueName="rotation.fifo", Attributes={"FifoQueue": "true"})
    env = {
        **stack.env(),
        "ACME_ACCOUNT_SECRET_ID": "certrotate/acme-account",
        "ROTATION_QUEUE_URL": queue["QueueUrl"],
        "LEASE_TABLE_NAME": fixtures.create_lease_table(stack.client("dynamodb")),
        "RENEW_BEFORE_DAYS": "30",
        "RETIREMENT_GRACE_SECONDS": "0",
        "POWERTOOLS_SERVICE_NAME": "certrotate",
    }
    for i in range(rotations):
        old = fixtures.seed_certificate(iam, f"site{i}", [f"site{i}.example.com"], days_left=5)
        fixtures.create_alb_https_listener(elbv2, ec2, old["Arn"], name=f"site{i}")
    started = time.perf_counter()
    with lambda_runner.lambda_environment(), contextlib.redirect_stdout(io.StringIO()):  # the functions' logs
        lambda_runner.invoke("ScanFunction", {"dry_run": True}, env)
        for i in range(rotations):
            result = lambda_runner.invoke("RotateFunction", {"certificate_name": f"site{i}"}, env)
            assert result["status"] == "rotated", result
    return time.perf_counter() - started


def main() -> None:
    rotations = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with LocalStack() as stack:
        run(stack, 1)  # warm: imports, pebble's first account
        walls_on, walls_off, per_call, per_admin_call = [], [], [], []
        for _ in range(5):  # alternated, so that the machine's other load weighs on both alike
            stack.iam.enabled = True
            walls_on.append(run(stack, rotations))
            stats = stack.iam.stats
            per_call.append(stats.evaluated_seconds / stats.evaluated)
            per_admin_call.append((stats.seconds - stats.evaluated_seconds) / (stats.calls - stats.evaluated))
            calls, evaluated = stats.calls, stats.evaluated
            stack.iam.enabled = False
            walls_off.append(run(stack, rotations))
    print(f"{rotations} rotations and a scan: {evaluated} calls of the functions decided by policy per run")
    print(f"  (and {calls - evaluated} of the test's administrator, let through)")
    print(f"policy decision: {statistics.median(per_call) * 1e6:.0f} us per call (median of 5 runs)")
    print(f"administrator's calls: {statistics.median(per_admin_call) * 1e6:.0f} us per call")
    on, off = statistics.median(walls_on), statistics.median(walls_off)
    print(f"wall time: {on:.2f} s enforced, {off:.2f} s not")


if __name__ == "__main__":
    main()
