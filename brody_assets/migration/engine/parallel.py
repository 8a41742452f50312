"""A process pool for the per-batch Python transforms (legacy blobs, behavior events).

The transforms are pure CPU work on fetched rows; the database work (fetch, one transaction per
batch) stays on the main process and its connections. :class:`TransformPool` forks
``workers`` processes once per run (``MigrationOptions.transform_workers``; 0 = one per CPU,
1 = no pool: the transform runs in this process), splits each batch into contiguous slices, and
hands back the slices' results **in order**, so output and ledger rows are deterministic.

:meth:`TransformPool.submit` returns at once; the caller fetches the next batch (and writes the
previous one) while the workers transform. A worker that dies or raises makes
:meth:`Pending.result` raise :class:`TransformWorkerError` before anything of that batch is
written; the broken pool is discarded, and the next batch gets a fresh one.

Workers are forked (they inherit the imported modules, never use the parent's connections) and
die with the parent (``PR_SET_PDEATHSIG`` on Linux), so a killed run leaves no orphans.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# A batch is cut into this many slices per worker: slices of uneven cost still balance.
SLICES_PER_WORKER = 2
# Batches smaller than this are transformed in this process: a session costs ~0.1 ms on the C
# paths, less than forking the pool and shipping the rows (an incremental run's dozen sessions).
MIN_PARALLEL_ITEMS = 32


class TransformWorkerError(RuntimeError):
    """A transform failed in a worker process (it crashed or raised); nothing of its batch was written."""


def resolve_workers(requested: int | None) -> int:
    """``requested`` workers; 0 or None means one per CPU."""
    if requested is None or requested <= 0:
        return max(1, os.cpu_count() or 1)
    return requested


def _die_with_parent(parent: int) -> None:
    """Worker initializer: get SIGKILL when the parent dies (Linux), and exit if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _run_slice(fn: Callable[[Sequence[Any]], Any], items: Sequence[Any]) -> Any:
    return fn(items)


class Pending(Generic[T]):
    """The result of one submitted batch: its slices' results, merged in order by ``merge``."""

    def __init__(
        self,
        parts: list[Future] | None,
        merge: Callable[[list[Any]], T],
        value: Any = None,
        error: BaseException | None = None,
        on_broken: Callable[[], None] | None = None,
        label: str = "",
    ) -> None:
        self._parts, self._merge, self._value, self._error = parts, merge, value, error
        self._on_broken, self._label = on_broken, label

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        if self._parts is None:
            return self._value
        try:
            values = [part.result() for part in self._parts]
        except Exception as error:
            for part in self._parts:
                part.cancel()
            if self._on_broken is not None:
                self._on_broken()
            raise TransformWorkerError(
                f"transform of {self._label} failed in a worker process: {type(error).__name__}: {error}"
            ) from error
        return self._merge(values)


class TransformPool:
    """A lazily forked pool of ``workers`` processes (``workers == 1``: run in this process)."""

    def __init__(self, workers: int | None = None, min_items: int = MIN_PARALLEL_ITEMS) -> None:
        self.workers = resolve_workers(workers)
        self.min_items = min_items  # fewer items are transformed in this process
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )
        return self._executor

    def _discard(self) -> None:
        """Drop a broken pool, killing its workers.

        A worker of a broken ProcessPoolExecutor can block forever sending a large result that
        nobody reads any more, while the executor's manager thread waits for that worker to exit
        (Python 3.11): at interpreter exit that join would hang the process. Killing the workers
        ends both waits.
        """
        executor, self._executor = self._executor, None
        if executor is not None:
            for process in list((getattr(executor, "_processes", None) or {}).values()):
                if process.is_alive():
                    process.kill()
            executor.shutdown(wait=False, cancel_futures=True)

    def submit(
        self,
        fn: Callable[[Sequence[Any]], T],
        items: Sequence[Any],
        merge: Callable[[list[T]], T],
        label: str = "",
    ) -> Pending[T]:
        """Start ``fn`` over ``items`` (cut into contiguous slices); ``merge`` joins the slices' results.

        ``fn`` must be a module-level function (it is pickled by name) that returns one result
        for a list of items; ``merge(results)`` gets the slices' results in item order.
        """
        if self.workers <= 1 or len(items) < self.min_items:
            try:
                return Pending(None, merge, value=fn(items))
            except Exception as error:  # noqa: BLE001 - re-raised by result(), like a worker's
                return Pending(None, merge, error=error)
        n = min(len(items), self.workers * SLICES_PER_WORKER)
        bounds = [len(items) * i // n for i in range(n + 1)]
        try:
            pool = self._pool()
            parts = [
                pool.submit(_run_slice, fn, items[a:b])
                for a, b in zip(bounds, bounds[1:], strict=False)
            ]
        except Exception as error:  # noqa: BLE001 - a pool broken by an earlier crash
            self._discard()
            return Pending(
                None,
                merge,
                error=TransformWorkerError(
                    f"transform of {label} could not start in a worker process: {type(error).__name__}: {error}"
                ),
            )
        return Pending(parts, merge, on_broken=self._discard, label=label)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
