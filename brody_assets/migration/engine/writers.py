"""Batch writes on several connections of their own, so the server loads with more than one thread.

MariaDB runs one statement on one thread: a stage that writes every batch through the run's one
connection leaves the server's other cores idle while the Python transforms wait for it (the
behavior events: 7.15 M rows at lab scale). :class:`Writers` runs each batch's write on one of
``connections`` threads, each holding its own :class:`.db.Db` to the pipeline's server; each
batch stays one transaction (retried whole, bisected on errors exactly as before).

At most ``connections`` batches are in flight; :meth:`Writers.submit` waits for the oldest when
all are busy, so memory stays bounded. :meth:`Writers.drain` waits for every write and raises
the first error only after all of them have ended: no write of the stage is still running when
the stage returns (and gives up its table lock). ``connections == 1`` writes in the calling
thread on the run's own connection, as before.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from .db import Db

T = TypeVar("T")


class Writers:
    """Up to ``connections`` concurrent batch writes, each ``write(db)`` on a connection of its own."""

    def __init__(self, connections: int, connect: Callable[[], Db], own: Db) -> None:
        self.connections = max(1, connections)
        self._connect = connect
        self._own = own
        self._local = threading.local()
        self._opened: list[Db] = []
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._running: deque[Future] = deque()

    def _db(self) -> Db:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
            with self._lock:
                self._opened.append(db)
        return db

    def submit(self, write: Callable[[Db], int]) -> int:
        """Start ``write``; returns the rows of the writes that finished meanwhile (their errors raise)."""
        if self.connections == 1:
            return write(self._own)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.connections, thread_name_prefix="brody-writer")
        done = 0
        if len(self._running) >= self.connections:
            done += self._finish_oldest()
        self._running.append(self._executor.submit(lambda: write(self._db())))
        return done

    def _finish_oldest(self) -> int:
        future = self._running.popleft()
        try:
            return future.result()
        except BaseException:
            self.drain(raise_errors=False)
            raise

    def drain(self, raise_errors: bool = True) -> int:
        """Wait for every write in flight; returns their rows, then raises the first error."""
        done, first = 0, None
        while self._running:
            future = self._running.popleft()
            try:
                done += future.result()
            except BaseException as error:  # noqa: BLE001 - re-raised once all have ended
                first = first or error
        if first is not None and raise_errors:
            raise first
        return done

    def close(self) -> None:
        self.drain(raise_errors=False)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()
