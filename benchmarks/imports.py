"""How long loading the code location takes, next to importing Dagster alone (issue 14.6).

Every run process, sensor evaluation and ``dagster dev`` reload imports ``brody_assets.definitions``
and builds the repository from it. This times, in fresh processes taking turns, (a) a process that
only imports Dagster and (b) a process that loads the asset graph (imports the definitions and
resolves the repository), several times each; the ratio of the medians is the figure (target
<= 1.6). It also lists which heavy libraries (b) imported: none of them should be there.

    python -m benchmarks.imports [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.common import PROJECT_ROOT, machine, record

HEAVY = ("datajoint", "great_expectations", "matplotlib", "spikeinterface", "pandas", "numpy")
PROGRAMS = {
    "python only": "pass",
    "import dagster": "import dagster",
    "load the asset graph": (
        "import sys, json; import brody_assets.definitions as d; d.defs.get_repository_def(); "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    ),
}


def _run(program: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", program], env=env, check=True,
                          capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in PROGRAMS}
    heavy: list[str] = []
    _run(PROGRAMS["load the asset graph"])  # warm the file cache once, not timed
    for repeat in range(args.repeats):
        for name, program in PROGRAMS.items():
            seconds, out = _run(program)
            times[name].append(seconds)
            if name == "load the asset graph":
                heavy = json.loads(out)
        print(f"repeat {repeat + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()),
              flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["load the asset graph"] / median["import dagster"]
    rows = "\n".join(
        f"| {name} | {median[name]:.2f} | {min(values):.2f} | {max(values):.2f} |"
        for name, values in times.items()
    )
    body = f"""Machine: {machine()}; {args.repeats} repeats, the three processes taking turns, wall-clock
seconds of each fresh process (`python -c ...`).

| process | median | fastest | slowest |
|---|---|---|---|
{rows}

**Loading the asset graph takes {ratio:.2f}x a process that only imports Dagster** (target <= 1.6x;
2.65x before DataJoint left the load path). Heavy libraries imported while loading: {", ".join(heavy) or "none"}
(checked: {", ".join(HEAVY)}).
"""
    print(body)
    record("Code location load (`benchmarks/imports.py`)", body)
    return 0 if ratio <= 1.6 else 1


if __name__ == "__main__":
    sys.exit(main())
