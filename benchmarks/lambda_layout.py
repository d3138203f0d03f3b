"""Cold import as Lambda lays the code out: `python -m benchmarks.lambda_layout [--reps N] [--before REV]`.

`benchmarks/coldstart.py` imports the dependencies from the development virtual environment, where pip
compiled them to .pyc at install. A deployed layer has none: `sam build` (lambda-builders' pip workflow)
compiles nothing, and Lambda's file system is read-only, so every cold start compiles every module it imports
from the layer. The runtime's own boto3 comes compiled. Here each layout is a set of directories on
`sys.path`, in Lambda's order:

  function   functions/<name>/app.py                          (/var/task)
  layer      the lock, `pip install --no-compile --target`    (/opt/python), plus the certrotate package
  runtime    boto3 at the lock's version, compiled             (the runtime's site-packages)

Layouts: "SDK in the layer" (the lock as it is: boto3 and botocore shadow the runtime's), "SDK from the
runtime" (the same lock without boto3, botocore, s3transfer and jmespath), "SDK in the layer, with .pyc"
(the layer compiled, as a build that ships bytecode would make it) and, with --before REV, another commit's
lock and code, with tracing on (as deployed: Tracing: Active) and off.

Each figure is the CPU time (time.process_time) of the import in a fresh interpreter without site-packages
(-S) that writes no bytecode (-B), median of N runs, interleaved; the machine is shared, and CPU time drifts
far less than wall time under load. Wall times are printed alongside. The host installs the same pins for
its own platform (the lock's hashes cover every wheel), since arm64 extension modules cannot load here.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import LAYER, ROOT, code_version, median, table

SDK = ("boto3", "botocore", "s3transfer", "jmespath")
FLOOR = "import boto3\nfrom aws_lambda_powertools import Logger, Metrics\nLogger(); Metrics()"
PROBE = """
import sys, time
sys.path[:0] = {paths!r}
wall, cpu = time.perf_counter(), time.process_time()
{body}
print(time.perf_counter() - wall, time.process_time() - cpu)
"""
ENV = {
    "POWERTOOLS_SERVICE_NAME": "certrotate",
    "POWERTOOLS_METRICS_NAMESPACE": "CertRotate",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_LAMBDA_FUNCTION_NAME": "RotateFunction",  # as in Lambda, where Powertools turns tracing on
}


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        check=True,
        capture_output=True,
        text=True,
    )


def _code(work: Path, rev: str | None) -> Path:
    """The handlers and the certrotate package of `rev` (None: this tree), without .pyc."""
    target = work / "code"
    if rev is None:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "functions", target / "functions", ignore=ignore)
        shutil.copytree(LAYER / "certrotate", target / "layer" / "certrotate", ignore=ignore)
        shutil.copy2(LAYER / "requirements.txt", target / "requirements.txt")
        return target
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", rev, "functions", "layers/certrotate"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    shutil.move(target / "layers" / "certrotate", target / "layer")
    shutil.move(target / "layer" / "requirements.txt", target / "requirements.txt")
    return target


def _lock_version(requirements: Path, package: str) -> str:
    found = re.search(rf"^{package}==(\S+)", requirements.read_text(), re.MULTILINE)
    if not found:
        raise SystemExit(f"{requirements} pins no {package}")
    return found.group(1)


def _layer(work: Path, requirements: Path, name: str) -> Path:
    target = work / name
    _pip("--no-compile", "--target", str(target), "-r", str(requirements))
    return target


def _probe(paths: list[str], body: str, env: dict[str, str]) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-S", "-B", "-c", PROBE.format(paths=paths, body=body)],
        env={"PATH": os.environ["PATH"], **ENV, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"probe failed: {done.stderr[-2000:]}")
    wall, cpu = done.stdout.split()[-2:]
    return float(wall), float(cpu)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def run(reps: int, before: str | None) -> str:
    work = Path(tempfile.mkdtemp(prefix="certrotate-bench-layout-"))
    try:
        now = _code(work / "now", None)
        lock = now / "requirements.txt"
        runtime = work / "runtime"  # compiled, as the runtime ships it (pip compiles at install)
        _pip("--target", str(runtime), f"boto3=={_lock_version(lock, 'boto3')}")
        in_layer = _layer(work, lock, "layer-sdk")
        from_runtime = work / "layer-no-sdk"
        shutil.copytree(in_layer, from_runtime)
        for entry in from_runtime.iterdir():
            if entry.name.split("-")[0].lower() in SDK:
                shutil.rmtree(entry)
        compiled = work / "layer-sdk-pyc"
        shutil.copytree(in_layer, compiled)
        compileall.compile_dir(
            compiled, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
        layouts: dict[str, tuple[Path, Path, dict[str, str]]] = {
            "SDK in the layer (as built now)": (now, in_layer, {}),
            "SDK from the runtime": (now, from_runtime, {}),
            "SDK in the layer, with .pyc": (now, compiled, {}),
        }
        if before:
            old = _code(work / "before", before)
            old_layer = _layer(work, old / "requirements.txt", "layer-before")
            layouts[f"{before}, tracing on"] = (old, old_layer, {})
            layouts[f"{before}, tracing off"] = (old, old_layer, {"POWERTOOLS_TRACE_DISABLED": "true"})
        jobs: dict[tuple[str, str], tuple[list[str], str, dict[str, str]]] = {}
        for name, (code, layer, env) in layouts.items():
            base = [str(layer), str(code / "layer"), str(runtime)]
            jobs[(name, "floor")] = (base, FLOOR, env)
            for function in ("scan", "rotate"):
                jobs[(name, function)] = ([str(code / "functions" / function), *base], "import app", env)
        for job in jobs.values():
            _probe(*job)  # warm the file cache
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in jobs}
        for _ in range(reps):
            for key, job in jobs.items():
                samples[key].append(_probe(*job))
        sizes = {name: _size(layer) for name, (_, layer, _) in layouts.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def cell(key: tuple[str, str]) -> str:
        cpu = median(s[1] for s in samples[key]) * 1000
        wall = median(s[0] for s in samples[key]) * 1000
        return f"{cpu:.0f} ms ({wall:.0f} ms wall)"

    rows = [
        [name, *(cell((name, what)) for what in ("floor", "scan", "rotate")), f"{sizes[name] / 2**20:.1f} MB"]
        for name in layouts
    ]
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return "\n".join(
        [
            f"== Cold import in Lambda's layout (CPU time, median of {reps}; wall time in brackets)",
            f"   {os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}, "
            f"{platform.machine()}; code {code_version()}; load average {load}",
            table(
                rows, ["layout", "floor (boto3 + Powertools)", "scan handler", "rotate handler", "layer dir"]
            ),
            "   layer dir: the installed lock without .pyc (or with, for that layout), host platform wheels",
        ]
    )


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=9, help="fresh interpreters per figure")
    parser.add_argument("--before", help="also measure this commit's lock and code (tracing on and off)")
    args = parser.parse_args()
    print(run(args.reps, args.before), flush=True)


if __name__ == "__main__":
    main()
