"""Errors the ephys readers raise for bad input: each names the file and what is wrong with it.

Both are ``ValueError`` subclasses (through ``EphysInputError``) so callers that treat any bad
input alike can catch one class, and the assets can fail one partition with the message as is.
"""

from __future__ import annotations

from pathlib import Path


class EphysInputError(ValueError):
    """A recording or sorting on the drives that cannot be ingested as it is."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class RecordingError(EphysInputError):
    """A SpikeGLX file set (``.ap/.lf`` ``.meta`` + ``.bin``) that is missing, truncated or inconsistent."""


class KilosortError(EphysInputError):
    """A Kilosort/phy output folder that lacks a required file or holds inconsistent arrays or labels."""
