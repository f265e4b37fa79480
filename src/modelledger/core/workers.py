"""Thread pools kept for a whole process, made anew in a child after ``fork``.

A forked child inherits a pool's bookkeeping but none of its threads, so work handed to the
inherited pool would wait forever (a training script that registers, then forks workers that
register too). Each pool notices it is in another process and starts over.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ProcessPool:
    def __init__(self, max_workers: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix=name)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        if os.getpid() != self._pid:
            with self._lock:
                if os.getpid() != self._pid:
                    self._pool = ThreadPoolExecutor(self._max_workers, self._name)
                    self._pid = os.getpid()
        return self._pool.submit(fn, *args)
