"""Progress goes to a terminal only: a spinner with the seconds waited, a bar with counts; a pipe or a log
gets nothing (stdout keeps the table or the JSON)."""

from __future__ import annotations

import io
import time

from certrotate_cli.progress import Reporter


def test_a_terminal_sees_the_spinner_and_the_bar() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, force_terminal=True)
    with reporter.waiting("invoking certrotate-RotateFunction"):
        time.sleep(0.3)
    with reporter.counting("reading 3 IAM server certificates", 3) as advance:
        for _ in range(3):
            advance(1)
    shown = stream.getvalue()
    assert "invoking certrotate-RotateFunction" in shown
    assert "reading 3 IAM server certificates" in shown


def test_a_pipe_sees_nothing() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream)
    with reporter.waiting("invoking"), reporter.counting("reading", 2) as advance:
        advance(2)
    assert stream.getvalue() == ""
