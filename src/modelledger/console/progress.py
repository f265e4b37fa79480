"""A progress bar (of bytes, or of rows and the like) that only appears when work takes over a
second, on stderr, and never under ``--json``."""

from __future__ import annotations

import threading
import time
from typing import Any

SHOW_AFTER_S = 1.0


class LazyProgress:
    def __init__(self, description: str, enabled: bool = True, unit: str = "bytes") -> None:
        self.description = description
        self.enabled = enabled
        self.unit = unit  # "bytes", or what else is counted (shown as done/total)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._total = 0
        self._done = 0
        self._bar: Any = None
        self._task: Any = None

    def total(self, n: int) -> None:
        """How much there is to do; may grow as the work learns more (an upload after hashing)."""
        with self._lock:
            self._total = n
            if self._bar is not None:
                self._bar.update(self._task, total=n)

    def advance(self, n: int) -> None:
        with self._lock:
            self._done += n
            if self._bar is not None:
                self._bar.update(self._task, completed=self._done)
            elif self.enabled and time.monotonic() - self._started > SHOW_AFTER_S:
                self._show()

    def _show(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        console = Console(stderr=True)
        if not console.is_terminal:
            self.enabled = False  # a log file wants no bar
            return
        amount: list[ProgressColumn] = (
            [DownloadColumn(), TransferSpeedColumn()]
            if self.unit == "bytes"
            else [MofNCompleteColumn(), TextColumn(self.unit)]
        )
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            *amount,
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=self._total, completed=self._done)

    def __enter__(self) -> LazyProgress:
        return self

    def __exit__(self, *_: object) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None
