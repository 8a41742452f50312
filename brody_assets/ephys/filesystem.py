"""The file-system calls drive scanning makes, behind one small interface.

The sensors scan the drives only through a :class:`FileSystem`: the lab's mounts use
:class:`LocalFileSystem`; tests and the benchmark wrap it in :class:`InstrumentedFileSystem`,
which counts every call and can answer each one late (a simulated network drive, where every
``stat`` costs a round trip). Paths are plain absolute strings; no Dagster import here.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One directory entry: its name, absolute path and kind (symlinks are not followed)."""

    name: str
    path: str
    is_dir: bool
    is_file: bool
    is_symlink: bool


@dataclass(frozen=True)
class Stat:
    """What the scan needs of a ``stat``: size, modification time (ns) and whether it is a folder."""

    size: int
    mtime_ns: int
    is_dir: bool


class FileSystem(ABC):
    """Read-only access to a drive. Every method raises ``OSError`` (incl. PermissionError)."""

    @abstractmethod
    def scandir(self, path: str) -> list[Entry]:
        """The entries of folder ``path`` (one directory read)."""

    @abstractmethod
    def stat(self, path: str) -> Stat:
        """``stat`` of ``path``, following symlinks."""

    @abstractmethod
    def read_bytes(self, path: str, limit: int) -> bytes:
        """At most ``limit`` bytes from the start of file ``path``."""

    @abstractmethod
    def realpath(self, path: str) -> str:
        """``path`` with every symlink resolved."""


class LocalFileSystem(FileSystem):
    """The operating system's own file system (local disks and mounted network drives)."""

    def scandir(self, path: str) -> list[Entry]:
        with os.scandir(path) as entries:
            out = []
            for e in entries:
                link = e.is_symlink()
                out.append(Entry(e.name, e.path, e.is_dir(follow_symlinks=False),
                                 e.is_file(follow_symlinks=False), link))
            return out

    def stat(self, path: str) -> Stat:
        st = os.stat(path)
        return Stat(st.st_size, st.st_mtime_ns, (st.st_mode & 0o170000) == 0o040000)

    def read_bytes(self, path: str, limit: int) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(limit)

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)


class InstrumentedFileSystem(FileSystem):
    """Wraps another file system: counts calls by kind and delays each by ``delay_s`` seconds."""

    def __init__(self, inner: FileSystem | None = None, delay_s: float = 0.0) -> None:
        self.inner = inner or LocalFileSystem()
        self.delay_s = delay_s
        self.calls: Counter[str] = Counter()

    def _call(self, kind: str) -> None:
        self.calls[kind] += 1
        if self.delay_s:
            time.sleep(self.delay_s)

    def scandir(self, path: str) -> list[Entry]:
        self._call("scandir")
        return self.inner.scandir(path)

    def stat(self, path: str) -> Stat:
        self._call("stat")
        return self.inner.stat(path)

    def read_bytes(self, path: str, limit: int) -> bytes:
        self._call("read")
        return self.inner.read_bytes(path, limit)

    def realpath(self, path: str) -> str:
        self._call("realpath")
        return self.inner.realpath(path)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())
