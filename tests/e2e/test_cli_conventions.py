"""The command line behaves like an AWS tool: global options before or after the command, `--version`,
`AWS_REGION`, one line and a distinct exit code for every failure (2 usage or configuration, 3 AWS or the
network, 130 interrupted), and an invocation that is never sent twice, however long the rotation takes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from certrotate import __version__

from devstack import deployed
from tests.e2e.conftest import World
from tests.e2e.test_cli import Cli, deploy
from tests.paths import ROOT


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(world, None, monkeypatch)  # type: ignore[arg-type]  # no TLS front: nothing is verified here


def _errors(capfd: pytest.CaptureFixture[str]) -> str:
    err = capfd.readouterr().err
    print(err, end="", file=sys.stderr)  # back to the autouse check for key material
    return err


def _cli_process(world: World, *argv: str) -> subprocess.Popen[str]:
    """The console script in its own process (as a shell runs it), against the local stack."""
    env = {
        **os.environ,
        **world.env,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "certrotate"), str(ROOT)]),
        "COLUMNS": "200",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "certrotate_cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # As a terminal's shell starts it: Ctrl-C interrupts. A shell that runs the tests in the background
        # starts them with SIGINT ignored, which a child inherits, and Python then installs no handler.
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_global_options_go_before_or_after_the_command(world: World, cli: Cli) -> None:
    world.seed("fine", ["fine.example.com"], days_left=200)
    before = cli.json("status")  # --json after the command
    code, text = cli("--json", "--region", "us-east-1", "status")
    assert code == 0 and before[0] == 0
    assert '"certificates"' in text and text.lstrip().startswith("{")
    code, text = cli("--no-color", "status", "--region", "us-east-1")
    assert code == 0 and "nothing needs a person" in text


def test_a_global_option_before_the_command_is_not_reset_by_the_command(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    world.seed("shop", ["shop.example.com"], days_left=12)
    # The operator's policy is for a stack named nowhere (not deployed): were --stack reset to certrotate by
    # the command's parser, reading that stack would be refused (exit 3), not found missing (exit 2).
    world.stack.iam.operator_parameters["CertRotateStackName"] = "nowhere"
    code, _ = cli("--stack", "nowhere", "rotate", "shop")
    assert code == 2
    assert "stack 'nowhere' not found" in _errors(capfd)
    code, _ = cli("--stack", "elsewhere", "rotate", "shop")
    assert code == 3
    assert "cloudformation:DescribeStacks on stack 'elsewhere' was refused (AccessDenied)" in _errors(capfd)


def test_version_prints_the_packages_version(tmp_path: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "certrotate_cli", "--version"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "certrotate"), str(ROOT)])},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"certrotate {__version__}"


def test_aws_region_is_honoured_as_the_aws_cli_does(
    world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.seed("fine", ["fine.example.com"], days_left=200)
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # boto3 reads only this one; AWS_REGION is set (us-east-1)
    code, document = cli.json("status")
    assert code == 0
    assert [c["name"] for c in document["certificates"]] == ["fine"]


def test_a_non_xml_500_from_aws_is_one_line_and_exit_code_3(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    world.stack.faults.inject(
        "iam", "ListServerCertificates", code="InternalFailure", status=500, times=20, html=True
    )
    code, out = cli("status")
    err = _errors(capfd)
    assert code == 3
    assert out == ""
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("certrotate: AWS (or something in between) answered with something not an AWS ")


def test_debug_shows_the_trace(world: World, cli: Cli, capfd: pytest.CaptureFixture[str]) -> None:
    world.stack.faults.inject(
        "iam", "ListServerCertificates", code="InternalFailure", status=500, times=20, html=True
    )
    code, _ = cli("status", "--debug")
    err = _errors(capfd)
    assert code == 3
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("certrotate: AWS (or something in between) answered")


def test_access_denied_on_the_stack_is_a_permission_problem_not_a_missing_stack(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    world.seed("fine", ["fine.example.com"], days_left=200)
    deploy(world)
    world.stack.faults.inject(
        service="cloudformation", action="DescribeStacks", code="AccessDenied", status=403, times=5
    )
    code, out = cli("status")
    err = _errors(capfd)
    assert code == 3
    assert out == ""
    assert "permission problem: cloudformation:DescribeStacks on stack 'certrotate' was refused" in err
    assert "not found" not in err


def test_an_invocation_is_never_sent_twice_even_when_lambda_throttles(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    world.seed("shop", ["shop.example.com"], days_left=60)
    deploy(world)
    world.stack.faults.inject(
        service="lambda", action="Invoke", code="TooManyRequestsException", status=429, times=1
    )
    code, _ = cli("rotate", "shop", "--dry-run")
    err = _errors(capfd)
    assert code == 3
    assert "TooManyRequestsException" in err
    assert world.stack.calls.count("lambda", "Invoke") == 1


def test_a_rotation_slower_than_the_sdk_read_timeout_is_invoked_exactly_once(world: World, cli: Cli) -> None:
    """The layer's clients give up reading after 30 s and retry: for an invocation that means a second
    rotation. The command line waits as long as the function may run (its Timeout) and never retries."""
    shop = world.seed("shop", ["shop.example.com"], days_left=60)
    deploy(world)
    deployed.invocations.delay = 35.0  # longer than botocore's read timeout in the layer's config (30 s)
    started = time.monotonic()

    code, text = cli("rotate", "shop", "--force", "--no-color")

    assert code == 0, text
    assert time.monotonic() - started >= 35
    assert "rotated: forced" in text
    assert world.stack.calls.count("lambda", "Invoke") == 1
    assert deployed.invocations.started == 1
    assert [n for n in world.certificates() if n.startswith("shop-cr")]
    assert shop["ServerCertificateName"] not in world.certificates()  # retired at once (grace 0)


def test_ctrl_c_while_waiting_is_exit_130_in_one_line_and_the_rotation_goes_on(world: World) -> None:
    world.seed("shop", ["shop.example.com"], days_left=60)
    deploy(world)
    deployed.invocations.delay = 4.0
    process = _cli_process(world, "rotate", "shop", "--force", "--no-color")
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # "invoking ...": the request is on its way
        assert first.startswith("invoking certrotate-RotateFunction"), first
        deadline = time.monotonic() + 10
        while deployed.invocations.started < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "stopped waiting: certrotate-RotateFunction goes on" in out
    assert err.strip().splitlines() == ["certrotate: interrupted"]
    # The function was not stopped: it finishes its rotation.
    assert deployed.invocations.wait_finished(1, timeout=60)
    assert [n for n in world.certificates() if n.startswith("shop-cr")]
