"""The peer: certbot with certbot-dns-route53, in its own virtual environment (.venv-bench), issuing on the
same pebble and moto server as certrotate.

Each certificate is its own `certbot certonly --dns-route53 -d NAME ...` process. It runs through a tiny
wrapper that calls `certbot.main.main` exactly as the `certbot` console script does, and also records where
the time went: interpreter start and imports, and every `time.sleep` by the function that slept (the
Route 53 plugin polls GetChange every 5 s until INSYNC; certbot waits 1 s before its first authorization
poll; acme waits 1 s before its first finalization poll). certbot-dns-route53 has no propagation-seconds
option: it waits for INSYNC instead, like certrotate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, log
from devstack import iam_enforcement

VENV = ROOT / ".venv-bench"
REQUIREMENTS = ROOT / "requirements-bench.txt"
_STAMP = VENV / ".installed"

WRAPPER = r"""
import json, sys, time
_t0 = time.perf_counter()
_real_sleep = time.sleep
_slept = {}
def _sleep(seconds):
    frame = sys._getframe(1)
    key = frame.f_globals.get("__name__", "?") + "." + frame.f_code.co_name
    _slept[key] = _slept.get(key, 0.0) + seconds
    _real_sleep(seconds)
time.sleep = _sleep
report = {"rc": None}
try:
    from certbot.main import main
    report["import_s"] = time.perf_counter() - _t0
    _t1 = time.perf_counter()
    try:
        rc = main(sys.argv[2:])
    except SystemExit as exit_:
        rc = exit_.code
    report["rc"] = rc if isinstance(rc, int) else (0 if rc is None else 1)
    report["main_s"] = time.perf_counter() - _t1
finally:
    report["sleeps"] = _slept
    report["inner_s"] = time.perf_counter() - _t0
    with open(sys.argv[1], "w") as handle:
        json.dump(report, handle)
sys.exit(report["rc"] or 0)
"""


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> Path:
    """Creates .venv-bench from requirements-bench.txt unless it is there and up to date."""
    if python().exists() and _STAMP.exists() and _STAMP.stat().st_mtime >= REQUIREMENTS.stat().st_mtime:
        return python()
    log(f"creating {VENV.relative_to(ROOT)} (certbot + certbot-dns-route53) from {REQUIREMENTS.name}")
    if not python().exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python()), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        check=True,
    )
    _STAMP.touch()
    return python()


def version() -> str:
    out = subprocess.run(
        [
            str(python()),
            "-c",
            "import certbot, certbot_dns_route53, importlib.metadata as m; "
            "print(certbot.__version__, m.version('certbot-dns-route53'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return f"certbot {out[0]}, certbot-dns-route53 {out[1]}"


@dataclass
class CertbotRun:
    name: str
    wall: float
    rc: int | None
    import_s: float = 0.0
    main_s: float = 0.0
    inner_s: float = 0.0
    sleeps: dict[str, float] = field(default_factory=dict)
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def startup_s(self) -> float:
        """Interpreter start and certbot's imports."""
        return self.wall - self.inner_s + self.import_s

    def slept(self, contains: str) -> float:
        return sum(v for k, v in self.sleeps.items() if contains in k)


class Certbot:
    """`Certbot(stack).issue("a.example.com")`: one certbot process; all runs share one config directory
    (one ACME account, registered by the first run, as on a host that runs certbot from cron)."""

    def __init__(self, stack: Any, key_type: str = "rsa") -> None:
        self.stack = stack
        self.key_type = key_type
        self.dir = Path(tempfile.mkdtemp(prefix="certrotate-bench-certbot-"))
        self.wrapper = self.dir / "certbot_timed.py"
        self.wrapper.write_text(WRAPPER)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        stack_env = stack.env()
        env.update(
            {
                "AWS_ENDPOINT_URL": stack_env["AWS_ENDPOINT_URL"],
                # Not the operator's (stack.env()): the devstack enforces certrotate's policies on it, and
                # certbot-dns-route53 runs with its own Route 53 grants; the stack's administrator stands in.
                "AWS_ACCESS_KEY_ID": iam_enforcement.ADMIN_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": stack_env["AWS_SECRET_ACCESS_KEY"],
                "AWS_SESSION_TOKEN": stack_env["AWS_SESSION_TOKEN"],
                "AWS_DEFAULT_REGION": stack.region,
                "REQUESTS_CA_BUNDLE": stack.acme_ca_bundle,
            }
        )
        self.env = env

    def issue(self, name: str) -> CertbotRun:
        report_path = self.dir / f"{name}.json"
        args = [
            "certonly",
            "--dns-route53",
            "-d",
            name,
            "--server",
            self.stack.acme_directory_url,
            "--config-dir",
            str(self.dir / "config"),
            "--work-dir",
            str(self.dir / "work"),
            "--logs-dir",
            str(self.dir / "logs"),
            "--agree-tos",
            "-m",
            "x@example.com",
            "--non-interactive",
            "--key-type",
            self.key_type,
        ]
        if self.key_type == "rsa":
            args += ["--rsa-key-size", "2048"]
        started = time.perf_counter()
        completed = subprocess.run(
            [str(python()), str(self.wrapper), str(report_path), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        run = CertbotRun(name=name, wall=wall, rc=completed.returncode, output=completed.stderr[-2000:])
        if report_path.exists():
            report = json.loads(report_path.read_text())
            run.import_s = float(report.get("import_s", 0.0))
            run.main_s = float(report.get("main_s", 0.0))
            run.inner_s = float(report.get("inner_s", 0.0))
            run.sleeps = dict(report.get("sleeps", {}))
        return run

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def certificate_path(self, name: str) -> Path:
        return self.dir / "config" / "live" / name / "fullchain.pem"
