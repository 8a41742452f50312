"""How long loading the code location takes, next to importing Dagster alone (issue 14.6).

Every run process, sensor evaluation and ``dagster dev`` reload imports ``brody_assets.definitions``
and builds the repository from it. This times, in fresh processes taking turns, (a) a process that
only imports Dagster and (b) a process that loads the asset graph (imports the definitions and
resolves the repository), several times each; the ratio of the fastest runs is the figure
(target <= 1.6; the medians are shown too). It also lists which heavy libraries (b) imported: none of them should be there.

    python -m benchmarks.imports [--repeats 7] [--reference /path/to/other/checkout]

``--reference`` also times loading the asset graph of another checkout (e.g. the code before this
change), in the same turns.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from benchmarks.common import PROJECT_ROOT, machine, record

HEAVY = ("datajoint", "great_expectations", "matplotlib", "spikeinterface", "pandas", "numpy")
GRAPH = "load the asset graph"
PROGRAMS = {
    "python only": "pass",
    "import dagster": "import dagster",
    GRAPH: (
        "import sys, json; import brody_assets.definitions as d; d.defs.get_repository_def(); "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    ),
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(program: str, root: str = str(PROJECT_ROOT)) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one fresh process running ``program``."""
    env = {**os.environ, "PYTHONPATH": root}
    cpu = _cpu()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", program], env=env, check=True, cwd=root,
                          capture_output=True, text=True)
    return time.perf_counter() - started, _cpu() - cpu, done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--reference", help="another checkout whose asset graph load is timed too")
    parser.add_argument("--reference-name", help="how RESULTS.md names it (e.g. a commit)")
    args = parser.parse_args(argv)
    runs = [(name, program, str(PROJECT_ROOT)) for name, program in PROGRAMS.items()]
    if args.reference:
        runs.append((f"{GRAPH}, reference checkout", PROGRAMS[GRAPH], args.reference))
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    heavy: dict[str, list[str]] = {}
    for _, program, root in runs[2:]:
        # Bytecode cached, as a deployed process finds it (this machine sets
        # PYTHONDONTWRITEBYTECODE, which would otherwise recompile every project module each time).
        subprocess.run([sys.executable, "-m", "compileall", "-q", "brody_assets"], cwd=root, check=True,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
                       stdout=subprocess.DEVNULL)
        _run(program, root)  # warm the file cache once, not timed
    for repeat in range(args.repeats):
        for name, program, root in runs:
            seconds, cpu_seconds, out = _run(program, root)
            times[name].append(seconds)
            cpu[name].append(cpu_seconds)
            if name.startswith(GRAPH):
                heavy[name] = json.loads(out.splitlines()[-1])
        print(f"repeat {repeat + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()),
              flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    fastest = {name: min(values) for name, values in times.items()}
    # The fastest run of each is the figure: on a shared machine, noise only ever adds time.
    ratio = fastest[GRAPH] / fastest["import dagster"]
    cpu_min = {name: min(values) for name, values in cpu.items()}
    rows = "\n".join(
        f"| {name} | {fastest[name]:.2f} | {median[name]:.2f} | {max(values):.2f} | {cpu_min[name]:.2f} |"
        for name, values in times.items()
    )
    reference = ""
    if args.reference:
        name = f"{GRAPH}, reference checkout"
        reference = (f"The reference checkout ({args.reference_name or args.reference}) loads its "
                     "asset graph in "
                     f"{fastest[name] / fastest['import dagster']:.2f}x (medians: "
                     f"{median[name] / median['import dagster']:.2f}x; CPU time: "
                     f"{cpu_min[name] / cpu_min['import dagster']:.2f}x), importing "
                     f"{', '.join(heavy[name]) or 'none of them'}.\n")
    body = f"""Machine: {machine()}; {args.repeats} repeats, the processes taking turns, wall-clock
seconds of each fresh process (`python -c ...`); "load the asset graph" imports
`brody_assets.definitions` and builds the repository, as a run process or a UI reload does
(the project's bytecode compiled first, as a deployed process finds it). Load average when it started: {load:.1f}.

| process | fastest | median | slowest | CPU (least) |
|---|---|---|---|---|
{rows}

**Loading the asset graph takes {ratio:.2f}x a process that only imports Dagster** (fastest runs;
medians: {median[GRAPH] / median["import dagster"]:.2f}x; CPU time, the least of each:
{cpu_min[GRAPH] / cpu_min["import dagster"]:.2f}x; target <= 1.6x). On a busy machine the CPU time
is the steadiest of the three.
Heavy libraries imported while loading: {", ".join(heavy[GRAPH]) or "none"} (checked: {", ".join(HEAVY)}).
{reference}"""
    print(body)
    record("Code location load (`benchmarks/imports.py`)", body)
    return 0 if ratio <= 1.6 else 1


if __name__ == "__main__":
    sys.exit(main())
