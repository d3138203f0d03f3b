"""Cold start, memory and layer size.

- Import time of each handler module in fresh interpreters (median of several), against the floor that any
  boto3 + Powertools handler pays (import boto3, make a Logger and Metrics). The handler code and the layer
  package are copied as `sam build` ships them: without .pyc files, so Python compiles them at every cold
  start (Lambda's file system is read-only); the dependencies have theirs, as pip installs them. The same
  with .pyc files shipped is reported alongside.
- What the first invocation builds before its first AWS call (settings, boto3 clients), and the lazy import
  of acme that the first ACME order pays.
- Peak memory of one rotation in a fresh process (VmHWM, and tracemalloc's peak of Python allocations).
- The layer's size: `pip install -r layers/certrotate/requirements.txt --target` plus the package, without
  boto3/botocore/s3transfer/jmespath (the Lambda runtime provides them).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    LAYER,
    ROOT,
    create_albs,
    fmt_s,
    fresh_world,
    log,
    median,
    run_probe,
    seed,
    start_stack,
    table,
)
from benchmarks.esm import container_env

TARGETS = {"scan": 1.3, "rotate": 1.5}  # handler import time / floor, at most
MEMORY_LIMIT_MB = 128
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")


PROPOSALS = Path(__file__).resolve().parent / "proposals"
# The module the proposal replaces: the inbound package's face (a certrotate/inbound.py beside the package
# directory would never be imported: the package wins).
INBOUND = Path("certrotate") / "inbound" / "__init__.py"
_NO_TRACER = """

class _NoTracer:  # benchmark variant: no Powertools Tracer (and so no X-Ray SDK import)
    def capture_lambda_handler(self, *args, **kwargs):
        return lambda function: function

    def capture_method(self, *args, **kwargs):
        return lambda function: function
"""


def _builds_tracer_at_import() -> bool:
    """Whether the handlers make a Powertools Tracer unconditionally (which imports the X-Ray SDK)."""
    return all(
        "tracer = Tracer()" in (ROOT / "functions" / f / "app.py").read_text() for f in ("scan", "rotate")
    )


def missing_from_proposal() -> list[str]:
    """What the handlers import from certrotate.inbound that proposals/inbound.py does not define: the
    proposal is a drop-in only when this is empty (else a copy with it would not import)."""
    defined: set[str] = set()
    for node in ast.parse((PROPOSALS / "inbound.py").read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    wanted = {
        alias.name
        for function in ("scan", "rotate")
        for node in ast.walk(ast.parse((ROOT / "functions" / function / "app.py").read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "certrotate.inbound"
        for alias in node.names
    }
    return sorted(wanted - defined)


def variants() -> dict[str, tuple[str, ...]]:
    """The proposed variants of the shipped code that apply to it as it is now (docs/performance.md)."""
    inbound = not missing_from_proposal()
    found: dict[str, tuple[str, ...]] = {"shipped": ()}
    if inbound:
        found["inbound without pydantic"] = ("inbound",)
    if _builds_tracer_at_import():
        found["no Powertools Tracer"] = ("no-tracer",)
        if inbound:
            found["both"] = ("inbound", "no-tracer")
    return found


def _deployed_copy(root: Path, changes: tuple[str, ...] = ()) -> dict[str, Path]:
    """The handlers and the layer package as `sam build` ships them (no __pycache__), with `changes`
    applied to the copy: "inbound" swaps in proposals/inbound.py as the inbound package's face
    (certrotate/inbound/__init__.py; its Parser models stay beside it, unused), "no-tracer" drops the
    Tracer object."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    layer = root / "layer"
    shutil.copytree(LAYER / "certrotate", layer / "certrotate", ignore=ignore)
    if "inbound" in changes:
        shutil.copy2(PROPOSALS / "inbound.py", layer / INBOUND)
    paths = {"layer": layer}
    for function in ("scan", "rotate"):
        target = root / "functions" / function
        target.mkdir(parents=True)
        source = (ROOT / "functions" / function / "app.py").read_text()
        if "no-tracer" in changes:
            source = source.replace("tracer = Tracer()", _NO_TRACER + "\n\ntracer = _NoTracer()")
        (target / "app.py").write_text(source)
        paths[function] = target
    return paths


def _probe_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "certrotate",
        "POWERTOOLS_METRICS_NAMESPACE": "CertRotate",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ACME_ACCOUNT_SECRET_ID": "certrotate/acme-account",
        "LEASE_TABLE_NAME": "certrotate-leases",
        "ROTATION_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/rotation.fifo",
        **(extra or {}),
    }


WITH_PYC = ("shipped",)  # also measured with .pyc files shipped


def imports(reps: int) -> dict[str, Any]:
    """Medians of import times (and of the first event's parsing): the floor and both handlers, as shipped
    and with .pyc, and the proposed variants. Interleaved, so that drift on the machine hits all alike."""
    work = Path(tempfile.mkdtemp(prefix="certrotate-bench-cold-"))
    try:
        applicable = variants()
        trees = {
            name: _deployed_copy(work / f"v{i}", changes)
            for i, (name, changes) in enumerate(applicable.items())
        }
        shipped = _probe_env({"PYTHONDONTWRITEBYTECODE": "1"})
        with_pyc = _probe_env({"PYTHONPYCACHEPREFIX": str(work / "pyc")})
        traced_env = {k: v for k, v in shipped.items() if k != "POWERTOOLS_TRACE_DISABLED"} | {
            "AWS_LAMBDA_FUNCTION_NAME": "RotateFunction"
        }
        jobs: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
            "floor": (("floor",), shipped),
            "floor (.pyc)": (("floor",), with_pyc),
        }
        for variant, tree in trees.items():
            for function in ("scan", "rotate"):
                args = ("handler", str(tree[function]), str(tree["layer"]))
                jobs[f"{function}: {variant}"] = (args, shipped)
                if variant in WITH_PYC:
                    jobs[f"{function}: {variant} (.pyc)"] = (args, with_pyc)
        jobs["rotate: shipped, tracing on"] = (
            ("handler", str(trees["shipped"]["rotate"]), str(trees["shipped"]["layer"])),
            traced_env,
        )
        packages: dict[str, list[str]] = {}
        for args, env in jobs.values():
            run_probe(*args, env=env)  # warm-up: file cache (and the .pyc, where they are kept)
        samples: dict[str, list[float]] = {}
        parses: dict[str, list[float]] = {}
        walls: dict[str, list[float]] = {}
        for _ in range(reps):
            for name, (args, env) in jobs.items():
                result = run_probe(*args, env=env)
                samples.setdefault(name, []).append(result["seconds"])
                parses.setdefault(name, []).append(result.get("first_parse_s", 0.0))
                walls.setdefault(name, []).append(result["wall_s"])
                packages[name] = result["packages"]
                if "packages_after_parse" in result:
                    packages[name + ", after the first event"] = result["packages_after_parse"]
        clients: dict[str, list[dict[str, Any]]] = {}
        for _ in range(reps):
            for function in ("scan", "rotate"):
                tree = trees["shipped"]
                clients.setdefault(function, []).append(
                    run_probe("clients", str(tree[function]), str(tree["layer"]), env=shipped)
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor_packages = set(packages["floor"])
    return {
        "variants": applicable,
        "medians": {key: median(values) for key, values in samples.items()},
        "first_parse": {key: median(values) for key, values in parses.items()},
        "walls": {key: median(values) for key, values in walls.items()},
        "extra_packages": {
            name: sorted(set(found) - floor_packages - {"app", "certrotate"})
            for name, found in packages.items()
            if ": shipped" in name and "(.pyc)" not in name and "tracing" not in name
        },
        "clients": {
            name: {
                "clients_s": median(r["clients_s"] for r in runs),
                "acme_import_s": median(r.get("acme_import_s", float("nan")) for r in runs),
                "built": runs[0]["built"],
            }
            for name, runs in clients.items()
        },
    }


def memory() -> dict[str, Any]:
    """One rotation (issue, validate, upload, repoint one ALB listener) in a fresh process."""
    stack = start_stack()
    try:
        world = fresh_world(stack)
        names = ["mem-a", "mem-b"]
        metas = [seed(world, name, [f"{name}.example.com"], 10) for name in names]
        create_albs(world, [m["Arn"] for m in metas], prefix="mem")
        env = container_env("RotateFunction", world.env)
        plain = run_probe("invoke", "RotateFunction", json.dumps({"certificate_name": names[0]}), env=env)
        traced = run_probe(
            "invoke", "RotateFunction", json.dumps({"certificate_name": names[1]}), "tracemalloc", env=env
        )
        floor = run_probe("floor", env=_probe_env())
    finally:
        stack.stop()
    for result in (plain, traced):
        if result["result"].get("status") != "rotated":
            raise RuntimeError(f"the memory probe's rotation did not rotate: {result['result']}")
    return {
        "peak_rss_mb": plain["maxrss_mb"],
        "ru_maxrss_mb": plain["ru_maxrss_mb"],
        "tracemalloc_peak_mb": traced["tracemalloc_peak_mb"],
        "floor_rss_mb": floor["maxrss_mb"],
        "rotation_s": plain["seconds"],
    }


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


# The proposal: Powertools without the parser and tracer extras (no pydantic, no X-Ray SDK, so no botocore).
PROPOSED_REQUIREMENTS = {
    "without the parser extra (proposals/inbound.py)": [
        "acme>=4.0,<6",
        "aws-lambda-powertools[tracer]>=3.10,<4",
        "cryptography>=44",
    ],
    "without parser and tracer extras": [
        "acme>=4.0,<6",
        "aws-lambda-powertools>=3.10,<4",
        "cryptography>=44",
    ],
}


def _requirements() -> list[str]:
    """The layer's lock as sam build installs it: pinned, every file's hash checked."""
    return ["-r", str(LAYER / "requirements.txt")]


def layer_size(requirements: list[str] | None = None) -> dict[str, Any]:
    requirements = requirements or _requirements()
    work = Path(tempfile.mkdtemp(prefix="certrotate-bench-layer-"))
    target = work / "python"
    try:
        log(f"layer size: pip install --target {' '.join(requirements)} (takes a while)")
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-cache-dir",
            *requirements,
            "--target",
            str(target),
        ]
        platform = "manylinux2014_aarch64 (arm64, as template.yaml)"
        arm = subprocess.run(
            [
                *command,
                "--platform",
                "manylinux2014_aarch64",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if arm.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            platform = "this machine's (x86_64; the arm64 wheels were not available)"
            subprocess.run(command, check=True, capture_output=True, text=True)
        shutil.copytree(
            LAYER / "certrotate", target / "certrotate", ignore=shutil.ignore_patterns("__pycache__")
        )
        sizes: dict[str, int] = {}
        for entry in target.iterdir():
            key = (
                entry.name.split("-")[0].split(".")[0].lower()
                if entry.name.endswith(".dist-info")
                else entry.name
            )
            size = _size(entry) if entry.is_dir() else entry.stat().st_size
            sizes[key] = sizes.get(key, 0) + size
        provided = sum(v for k, v in sizes.items() if k.lower() in RUNTIME_PROVIDED)
        total = sum(sizes.values())
        archive = work / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for file in sorted(target.rglob("*")):
                top = file.relative_to(target).parts[0]
                name = top.split("-")[0].split(".")[0].lower() if top.endswith(".dist-info") else top
                if file.is_file() and name.lower() not in RUNTIME_PROVIDED:
                    bundle.write(file, Path("python") / file.relative_to(target))
        zipped = archive.stat().st_size
        top = sorted(((v, k) for k, v in sizes.items() if k.lower() not in RUNTIME_PROVIDED), reverse=True)[
            :8
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mb = 1024 * 1024
    return {
        "requirements": requirements,
        "platform": platform,
        "total_mb": (total - provided) / mb,
        "runtime_provided_mb": provided / mb,
        "zip_mb": zipped / mb,
        "top": [(k, v / mb) for v, k in top],
    }


def run(reps: int = 7, with_memory: bool = True, with_layer: bool = True) -> dict[str, Any]:
    log(f"cold start: handler imports in fresh interpreters, {reps} repetitions each")
    found = imports(reps)
    mem = memory() if with_memory else None
    size = layer_size() if with_layer else None
    proposed_sizes = (
        {name: layer_size(requirements) for name, requirements in PROPOSED_REQUIREMENTS.items()}
        if with_layer
        else {}
    )

    m, parse = found["medians"], found["first_parse"]
    floor, floor_pyc = m["floor"], m["floor (.pyc)"]
    summary: dict[str, Any] = {"name": "coldstart", "floor_s": floor, "floor_pyc_s": floor_pyc}
    lines = [
        f"== Cold start: handler import time in fresh interpreters (median of {reps}), against the floor"
    ]
    lines.append(
        f"   floor = import boto3 + Powertools Logger/Metrics: {fmt_s(floor)} ({fmt_s(floor_pyc)} with "
        ".pyc); targets: scan <= 1.3x, rotate <= 1.5x"
    )
    has_tracer = "no Powertools Tracer" in found["variants"]
    labels = [
        ("as shipped (no .pyc for the layer's own code)", "shipped", floor),
        ("as shipped, with .pyc", "shipped (.pyc)", floor_pyc),
        ("proposal A: inbound.py without pydantic", "inbound without pydantic", floor),
        ("proposal B: no Powertools Tracer", "no Powertools Tracer", floor),
        ("A + B", "both", floor),
    ]
    labels = [
        (label, key, base) for label, key, base in labels if key in found["variants"] or "shipped" in key
    ]
    rows = []
    for label, key, base in labels:
        row = [label]
        for function in ("scan", "rotate"):
            seconds = m[f"{function}: {key}"]
            first = parse[f"{function}: {key}"]
            ratio = seconds / base
            verdict = "ok" if ratio <= TARGETS[function] else f"misses <= {TARGETS[function]}x"
            row.append(f"{fmt_s(seconds)} = {ratio:.2f}x, {verdict}")
            row.append(f"{fmt_s(first)} -> {(seconds + first) / base:.2f}x")
            summary[f"{function}: {key}"] = {
                "seconds": seconds,
                "ratio": ratio,
                "first_event_s": first,
                "ratio_with_first_event": (seconds + first) / base,
            }
        rows.append(row)
    lines.append(
        table(
            rows,
            ["", "scan: import", "+ first event", "rotate: import", "+ first queue message"],
        )
    )
    lines.append(
        "   (+ first event: checking the function's usual first event, the schedule or a queue message, with "
        "whatever that loads lazily; the ratio then counts import + that)"
    )
    if not has_tracer:
        lines.append(
            "   the handlers build no Powertools Tracer when tracing is off: proposal B is in already"
        )
    missing = missing_from_proposal()
    if missing:
        lines.append(
            "   proposal A not measured: proposals/inbound.py lacks what the handlers import from "
            f"certrotate.inbound ({', '.join(missing)})"
        )
    traced = m["rotate: shipped, tracing on"]
    lines.append(
        f"   rotate handler with tracing on, as deployed (Tracing: Active): {fmt_s(traced)} = "
        f"{traced / floor:.2f}x the floor"
    )
    for name, extra in found["extra_packages"].items():
        lines.append(f"   {name} imports beyond the floor: {', '.join(extra) or 'nothing'}")
    whole = found["walls"]
    lines.append(
        "   whole process, interpreter start included: "
        + ", ".join(f"{name} {fmt_s(whole[name])}" for name in ("floor", "scan: shipped", "rotate: shipped"))
    )
    for name, c in found["clients"].items():
        text = f"   first invocation of {name}: settings + clients {fmt_s(c['clients_s'])} [{c['built']}]"
        if name == "rotate":
            acme = "certrotate.adapters.acme.authority"
            text += f"; lazy `import {acme}` at the first order {fmt_s(c['acme_import_s'])}"
        lines.append(text)
    summary["traced_rotate_s"] = traced
    summary["clients"] = found["clients"]
    if mem:
        fits = "fits" if mem["peak_rss_mb"] <= MEMORY_LIMIT_MB else "DOES NOT FIT"
        lines.append("")
        lines.append(
            f"== Memory of one rotation in a fresh process: peak RSS {mem['peak_rss_mb']:.0f} MB, {fits} in "
            f"{MEMORY_LIMIT_MB} MB (the floor process alone: {mem['floor_rss_mb']:.0f} MB); tracemalloc peak "
            f"{mem['tracemalloc_peak_mb']:.1f} MB of Python allocations"
        )
        lines.append(
            f"   (ru_maxrss reports {mem['ru_maxrss_mb']:.0f} MB: on Linux it keeps the high-water mark of "
            "the forking parent, the benchmark process; peak RSS above is VmHWM)"
        )
        summary["memory"] = mem
    if size and proposed_sizes:
        lines.append("")
        lines.append(f"== Layer size, {size['platform']}: pip install --target + the certrotate package")
        rows = [["now: " + " ".join(size["requirements"]), size]]
        rows += [[name, found] for name, found in proposed_sizes.items()]
        lines.append(
            table(
                [
                    [
                        label,
                        f"{found['total_mb']:.1f} MB",
                        f"{found['zip_mb']:.1f} MB",
                        f"{found['runtime_provided_mb']:.1f} MB",
                    ]
                    for label, found in rows
                ],
                ["", "unzipped (no boto3)", "zipped (no boto3)", "boto3 family pulled in"],
            )
        )
        lines.append("   largest now: " + ", ".join(f"{k} {v:.1f} MB" for k, v in size["top"]))
        summary["layer"] = size
        summary["layer_proposed"] = proposed_sizes
    text = "\n".join(lines)
    print(text, flush=True)
    summary["text"] = text
    return summary
