"""MATLAB-shaped contents of ``parsed_events.peh`` and ``sessions.protocol_data``.

``peh`` (parsed events history) is a 1×N struct array, one element per trial,
with fields ``states`` (state name -> N×2 [in, out] times, plus
``starting_state`` / ``ending_state`` names), ``pokes`` (C/L/R -> N×2 times)
and ``waves`` (sound name -> N×2 times).  ``protocol_data`` is a 1×1 struct of
per-session summaries.  Both are serialized with :mod:`.mym` (32-bit dims).
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import mym

STATES = ("wait_for_cpoke", "cpoke", "wait_for_spoke", "hit_state", "error_state")
TRIAL_FIELDS = ("states", "pokes", "waves")
PROTOCOLS = ("ProAnti3", "PBups", "SameDifferent", "TaskSwitch4", "Classical")


_EMPTY = mym.Pairs()


def _pairs(rng: random.Random, t0: float, n: int) -> mym.Pairs:
    """``n`` consecutive [in, out] intervals starting after ``t0`` (n×2, seconds)."""
    if n == 0:
        return _EMPTY
    rows = []
    t = t0
    for _ in range(n):
        t_in = t + 0.05 + 0.55 * rng.random()
        t = t_in + 0.01 + 0.39 * rng.random()
        rows.append((round(t_in, 4), round(t, 4)))
    return mym.Pairs(rows)


def peh_value(rng: random.Random, n_trials: int) -> mym.Struct:
    """The parsed-events struct array of one session."""
    trials = []
    t = rng.uniform(1.0, 5.0)
    for _ in range(n_trials):
        states: dict[str, object] = {}
        hit = rng.random() < 0.7
        for name in STATES:
            n = 0 if (name == "error_state" and hit) or (name == "hit_state" and not hit) else 1
            arr = _pairs(rng, t, n)
            if n:
                t = arr[-1][1]
            states[name] = arr
        states["starting_state"] = "state_0"
        states["ending_state"] = "check_next_trial_ready"
        pokes = {side: _pairs(rng, t - 2.0, rng.randrange(0, 3)) for side in ("C", "L", "R")}
        waves = {"go_sound": _pairs(rng, t - 1.5, 1)}
        trials.append({"states": states, "pokes": pokes, "waves": waves})
        t += rng.uniform(1.0, 4.0)
    return mym.Struct(TRIAL_FIELDS, trials)


def peh_blob(rng: random.Random, n_trials: int) -> bytes:
    """Serialized ``peh`` of one session."""
    return mym.encode(peh_value(rng, n_trials))


def protocol_data_value(rng: random.Random, protocol: str, n_trials: int) -> dict[str, object]:
    """The ``protocol_data`` struct of one session."""
    hits = np.array([[float(rng.random() < 0.7) for _ in range(n_trials)]])
    sides = "".join(rng.choice("LR") for _ in range(n_trials))
    return {
        "protocol": protocol,
        "n_trials": float(n_trials),
        "hit_history": hits,
        "sides": sides,
        "stage": float(rng.randrange(1, 8)),
    }


def protocol_data_blob(rng: random.Random, protocol: str, n_trials: int) -> bytes:
    """Serialized ``protocol_data`` of one session."""
    return mym.encode(protocol_data_value(rng, protocol, n_trials))


@dataclass(frozen=True)
class BlobJob:
    """A blob still to be generated: its kind (``peh`` / ``protocol_data``), seed and sizes."""

    kind: str
    seed: int
    n_trials: int
    protocol: str = ""

    def render(self) -> bytes:
        """Generate the blob bytes (deterministic in the job's fields)."""
        rng = random.Random(self.seed)
        if self.kind == "peh":
            return peh_blob(rng, self.n_trials)
        return protocol_data_blob(rng, self.protocol, self.n_trials)


def _render(job: BlobJob) -> bytes:
    return job.render()


PARALLEL_ABOVE = 5000


def render_jobs(rows: list[list], column: int) -> None:
    """Replace every :class:`BlobJob` in ``rows[i][column]`` by its bytes (in parallel when many)."""
    todo = [i for i, row in enumerate(rows) if isinstance(row[column], BlobJob)]
    jobs = [rows[i][column] for i in todo]
    if len(jobs) > PARALLEL_ABOVE and (os.cpu_count() or 1) > 1:
        with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            rendered = list(pool.map(_render, jobs, chunksize=1000))
    else:
        rendered = [job.render() for job in jobs]
    for i, blob in zip(todo, rendered, strict=True):
        rows[i][column] = blob
