"""pyproject's explicit package list against the packages on disk: a package left out of the list is left out
of the wheel, and `certrotate` installed from it fails with an ImportError (tests/e2e/test_wheel.py)."""

from __future__ import annotations

import tomllib

from tests.paths import ROOT


def packages_on_disk() -> set[str]:
    found = set()
    for package, folder in (
        ("certrotate", ROOT / "layers/certrotate/certrotate"),
        ("certrotate_cli", ROOT / "certrotate_cli"),
    ):
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder)
            found.add(".".join((package, *relative.parts)))
    return found


def test_the_wheel_lists_every_package_on_disk() -> None:
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert sorted(listed) == sorted(packages_on_disk())
