"""The command line as a user installs it: a wheel built from pyproject.toml, installed in a fresh virtualenv,
run from outside the source tree. Its own files (the `certrotate` and `certrotate_cli` packages, the Let's
Encrypt staging roots) come from the wheel; its dependencies come from the development environment (a path
file after the venv's own site-packages), so that the test needs no download."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from devstack import fixtures
from tests.e2e.conftest import World
from tests.paths import ROOT

STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; returns its bin directory."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # the build inputs only: no build/ or egg-info in the worktree
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copytree(ROOT / "certrotate_cli", source / "certrotate_cli")
    shutil.copytree(
        ROOT / "layers" / "certrotate" / "certrotate", source / "layers" / "certrotate" / "certrotate"
    )
    dist = work / "dist"
    # As `pip install .` builds it: in an isolated environment with pyproject's build requirements (from
    # PyPI, or pip's cache), never this environment's setuptools.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), "."],
        cwd=source,
        check=True,
    )
    [wheel] = dist.glob("certrotate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "certrotate/roots/letsencrypt-staging.pem" in archive.namelist()
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
    )
    # The dependencies (boto3, acme, Powertools, rich, dnspython, ...) from this environment, searched after
    # the venv's own site-packages: the wheel's packages win over anything of the same name there.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | extra


def test_the_wheel_carries_its_own_files(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import certrotate, certrotate_cli; print(certrotate.__file__); print(certrotate_cli.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_clean_env({}),
        check=True,
    )
    for path in done.stdout.split():
        assert Path(path).is_relative_to(installed.parent), path
    version = subprocess.run(
        [str(installed / "certrotate"), "--version"], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    from certrotate import __version__

    assert version.stdout.strip() == f"certrotate {__version__}"


def test_rotate_local_dry_run_from_the_installed_wheel_against_the_local_stack(
    world: World, installed: Path, tmp_path: Path
) -> None:
    """The stack's default directory (Let's Encrypt staging) and no ISSUER_TRUST_BUNDLE: the dry run checks
    the built-in staging roots, which only the wheel's package data can provide."""
    shop = world.seed("shop", ["shop.example.com"], days_left=12)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, shop["Arn"], name="shop-alb")
    env = _clean_env(
        {k: v for k, v in world.env.items() if k != "ISSUER_TRUST_BUNDLE"} | {"ACME_DIRECTORY_URL": STAGING}
    )
    before = world.snapshot()
    done = subprocess.run(
        [str(installed / "certrotate"), "rotate", "shop", "--local", "--dry-run", "--yes", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
        timeout=120,
    )
    print(done.stderr, end="", file=sys.stderr)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "planned"
    assert "validate its chain to the built-in Let's Encrypt staging roots" in result["steps"]
    assert world.snapshot() == before
