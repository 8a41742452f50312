"""Scratch folders for temporary files: one per process, under ``<state home>/tmp``.

A process writes its temporary files (the behavior-event load files) into its own folder
``tmp/<pid>-<process start time>``, removed when the process exits. A process killed outright
(SIGKILL, OOM) cannot clean up, so every new process sweeps the folders of processes that are no
longer alive when it first asks for its own (and the migration engine sweeps when a run opens):
leftovers live at most until the next start. Nothing secret is ever written here.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
from pathlib import Path

from brody_assets import paths

_mine: Path | None = None


def root() -> Path:
    return paths.state_home() / "tmp"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (tells a live process from a reused pid)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(name: str) -> bool:
    pid_text, _, started = name.partition("-")
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if os.path.exists("/proc/self/stat"):
        return _start_time(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep() -> list[Path]:
    """Remove the scratch folders of processes that are gone; returns what was removed."""
    removed = []
    if not root().is_dir():
        return removed
    for folder in root().iterdir():
        if folder == _mine or _alive(folder.name):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def scratch_dir() -> Path:
    """This process's scratch folder (created, after a sweep, on first use; removed at exit)."""
    global _mine
    if _mine is not None and _mine.is_dir():
        return _mine
    sweep()
    root().mkdir(parents=True, exist_ok=True, mode=0o700)
    pid = os.getpid()
    folder = root() / f"{pid}-{_start_time(pid) or 'x'}"
    folder.mkdir(mode=0o700, exist_ok=True)
    _mine = folder
    atexit.register(_remove, folder, pid)
    return folder


def _remove(folder: Path, pid: int) -> None:
    if os.getpid() == pid:  # not in forked children, whose exit must not take the parent's folder
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
