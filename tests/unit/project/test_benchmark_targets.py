"""The benchmarks name layer code by string (module:qualname) to time it or to patch it. A name the layer no
longer has would report nothing (the timers' -1, a breakdown without the row) instead of failing: these
tests fail instead, one case per name."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cold_fleet, coldstart, drill, patches, timers, worker

ROOT = Path(__file__).resolve().parents[3]


def _spans(spec: str) -> list[str]:
    return [item for item in spec.split(",") if item]


# Every module:qualname the benchmarks name, with where it is named.
NAMED: list[tuple[str, str]] = [
    *((f"{module}:{path}", f"timers.PHASES {label.strip()!r}") for label, module, path in timers.PHASES),
    *((target, f"worker.PHASES {label.strip()!r}") for target, label in worker.PHASES.items()),
    *((target, "cold_fleet.SCAN_SPANS") for target in _spans(cold_fleet.SCAN_SPANS)),
    *((target, "drill.RECHECK_SPANS") for target in _spans(drill.RECHECK_SPANS)),
    *(
        (f"{module}:{path}", f"patches.REPLACES {name!r}")
        for name, (module, path) in patches.REPLACES.items()
    ),
]


@pytest.mark.parametrize(("target", "where"), NAMED, ids=[f"{w}: {t}" for t, w in NAMED])
def test_each_named_target_resolves(target: str, where: str) -> None:
    module_name, _, path = target.partition(":")
    assert module_name and path, f"{where}: {target!r} is not module:qualname"
    try:
        _owner, _name, found = timers.resolve(module_name, path)
    except LookupError as missing:
        pytest.fail(f"{where}: {missing}")
    function = found.__func__ if isinstance(found, staticmethod | classmethod) else found
    assert callable(function), f"{where}: {target} is not a function"


def _calls_by_name(tree: ast.AST, name: str) -> bool:
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
        for node in ast.walk(tree)
    )


def _handler_calls_on_module(module_name: str, name: str) -> bool:
    """Whether a handler calls `alias.name(...)` with `alias` bound by `from <parent> import <module>`."""
    parent, _, leaf = module_name.rpartition(".")
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        tree = ast.parse(app.read_text())
        aliases = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == parent
            for alias in node.names
            if alias.name == leaf
        }
        if any(
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == name
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in aliases
            for node in ast.walk(tree)
        ):
            return True
    return False


MODULE_FUNCTIONS = [(label, module, path) for label, module, path in timers.PHASES if "." not in path]


@pytest.mark.parametrize(
    ("label", "module_name", "name"), MODULE_FUNCTIONS, ids=[f"{m}:{p}" for _l, m, p in MODULE_FUNCTIONS]
)
def test_a_timed_function_is_wrapped_where_it_is_called(label: str, module_name: str, name: str) -> None:
    """The timers replace a module's attribute: a function imported elsewhere by `from m import f` keeps the
    original there. The module named must be the one whose code calls the name (or whose attribute a handler
    calls), not the one that defines or re-exports it."""
    module = importlib.import_module(module_name)
    called = _calls_by_name(ast.parse(inspect.getsource(module)), name) or _handler_calls_on_module(
        module_name, name
    )
    assert called, f"timers.PHASES {label.strip()!r}: nothing calls {name} through {module_name}"


def test_the_worker_finds_each_phase_in_a_profile() -> None:
    """The profiled breakdown matches cProfile's entries by code (file, first line, name): every phase
    yields a key, and no two phases share one."""
    keys = [worker.code_key(*target.split(":")) for target in worker.PHASES]
    assert len(set(keys)) == len(keys)


def test_worker_code_key_sees_through_the_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """With BENCH_PHASES=1 the timers wrap the phases before cProfile runs: the key stays the original's."""
    from certrotate.deploy.deployment import Deployment

    before = worker.code_key("certrotate.deploy.deployment", "Deployment._repoint")
    monkeypatch.setattr(
        timers, "PHASES", [("repoint", "certrotate.deploy.deployment", "Deployment._repoint")]
    )
    monkeypatch.setattr(Deployment, "_repoint", Deployment._repoint)  # restored after the test
    totals = timers.install_timers()
    assert totals.get("repoint", 0.0) == 0.0  # wrapped, not reported missing
    assert Deployment._repoint.__code__.co_name == "wrapper"
    assert worker.code_key("certrotate.deploy.deployment", "Deployment._repoint") == before


def test_the_timers_report_a_missing_name_as_minus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timers, "PHASES", [("gone", "certrotate.rotation", "RotationService.rotate")])
    assert timers.install_timers() == {"gone": -1.0}


def _bindable(original: Any, replacement: Any) -> str | None:
    """Why a call made as to `original` (positional parameters by position, keyword-only by name) would not
    bind to `replacement`; None when it would."""
    args, kwargs = [], {}
    for parameter in inspect.signature(original).parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = object()
        elif parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            args.append(object())
    try:
        inspect.signature(replacement).bind(*args, **kwargs)
    except TypeError as refused:
        return f"{inspect.signature(original)} -> {inspect.signature(replacement)}: {refused}"
    return None


@pytest.mark.parametrize(("patch", "target"), sorted(patches.REPLACES.items()))
def test_each_patch_takes_the_arguments_of_what_it_replaces(
    patch: str, target: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, name, original = timers.resolve(*target)
    monkeypatch.setattr(owner, name, original)  # the patch below is undone after the test
    values = {
        "insync_first_delay": "0.2",
        "parallel_discovery": "8",
        "discover_ttl": "30",
        "zones_ttl": "300",
        "scan_tags": "relevant",
        "finalize_first_poll": "0.1",
        "index_records": "off",
    }
    patches.apply([f"{patch}={values[patch]}"])
    replacement = owner.__dict__[name]
    assert replacement is not original, f"patch {patch} did not replace {target[0]}:{target[1]}"
    problem = _bindable(original, replacement)
    assert problem is None, f"patch {patch}: {problem}"


def test_the_inbound_proposal_replaces_the_package_face(tmp_path: Path) -> None:
    """certrotate/inbound is a package: a certrotate/inbound.py beside it would never be imported, and the
    variant would measure the shipped code under the proposal's name."""
    copy = coldstart._deployed_copy(tmp_path, ("inbound",))
    face = copy["layer"] / coldstart.INBOUND
    assert face.read_text() == (coldstart.PROPOSALS / "inbound.py").read_text()
    assert not (copy["layer"] / "certrotate" / "inbound.py").exists()


def test_the_inbound_proposal_is_offered_only_as_a_drop_in() -> None:
    missing = coldstart.missing_from_proposal()
    assert ("inbound without pydantic" in coldstart.variants()) == (not missing)
