"""Progress for anything that may take more than a second, on stderr and only in a terminal: stdout stays
the table or the JSON, and a log or a pipe gets no spinner frames."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class Reporter:
    """Spinners and bars for one command. `stream` is stderr unless a test gives its own terminal."""

    def __init__(self, stream: IO[str] | None = None, *, force_terminal: bool | None = None) -> None:
        self.console = Console(file=stream or sys.stderr, force_terminal=force_terminal, highlight=False)

    @property
    def live(self) -> bool:
        return self.console.is_terminal

    @contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        """A spinner with the seconds waited, for one call whose length is unknown (an invocation)."""
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.live,
        ) as progress:
            progress.add_task(what, total=None)
            yield

    @contextmanager
    def counting(self, what: str, total: int) -> Iterator[Callable[[int], None]]:
        """A bar for `total` steps; the callable advances it."""
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.live,
        ) as progress:
            task = progress.add_task(what, total=total)

            def advance(steps: int = 1) -> None:
                progress.advance(task, steps)

            yield advance
