"""Benchmark of the blob path: legacy mYm -> Python-native blobs, and the behavior events.

Per session (one process, on a sample of the legacy blobs): DataJoint's reader in 32-bit mode +
``matlab_to_python`` + ``blob.pack`` (the reference) vs :mod:`brody_assets.migration.engine.fastblob`;
reading the new ``peh`` back for the events: ``blob.unpack`` vs ``unpack_dj0``.

Whole tables: ``migrate(full_backfill=True)`` of protocol data, parsed events and behavior events
after the SQL tables, with the transform pool at 1 worker (in process) and at one per CPU; with
``--reference DIR`` also the code of an older checkout (e.g. a ``git worktree`` of the commit
before the fast path), run in a child process on the same data.

    .venv/bin/python benchmarks/blobs.py --scale small [--reuse] [--reference /tmp/base]

Own server: port 33427, ``.brody/bench/blobs``, prefix ``bb_`` (``--keep`` leaves it running and
the schemas in place). Writes "Blob path (<scale>)" to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    END_DATE,
    bootstrap_both,
    build_legacy,
    drop_prefix,
    machine,
    record,
    server,
    settings_for,
)

PORT = 33427
PREFIX = "bb_"
BLOB_TABLES = [
    "acquisition.session_protocol_data",
    "acquisition.parsed_events",
    "acquisition.behavior_event",
]


def reset_blob_tables(srv, settings) -> None:
    from brody_assets.migration.registry import entry
    from brody_assets.migration.schemas.naming import TABLE_NAMES

    with srv.admin_connect() as conn, conn.cursor() as cur:
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for name in BLOB_TABLES:
            e = entry(name)
            for layer, prefix in (("new", settings.new_prefix), ("shadow", settings.shadow_prefix)):
                key = (layer, e.family, e.new_class)
                if key in TABLE_NAMES:
                    cur.execute(f"TRUNCATE TABLE `{prefix}{e.family}`.`{TABLE_NAMES[key]}`")
        for table in ("quarantine", "watermark"):
            cur.execute(
                f"DELETE FROM `{settings.new_prefix}migration`.`{table}` WHERE table_name IN %s",
                (BLOB_TABLES,),
            )
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")


def content_digest(srv, settings) -> dict[str, str]:
    """CHECKSUM TABLE of the blob tables (equal digests: the same rows, byte for byte)."""
    out = {}
    with srv.admin_connect() as conn, conn.cursor() as cur:
        for name, table in (
            ("parsed_events", f"`{settings.new_prefix}acquisition`.`parsed_events`"),
            ("protocol_data", f"`{settings.new_prefix}acquisition`.`session_protocol_data`"),
            ("behavior_event", f"`{settings.new_prefix}acquisition`.`__behavior_event`"),
        ):
            cur.execute(f"CHECKSUM TABLE {table}")
            out[name] = str(cur.fetchone()[1])
    return out


RUN_BLOBS = """
import json, sys, time, types
sys.path.insert(0, {root!r})
from benchmarks.common import settings_for, END_DATE
from brody_assets.migration.engine import migrate
from brody_assets.migration.registry import MigrationOptions
srv = types.SimpleNamespace(port={port})  # the server is already running
settings = settings_for(srv, srv, {prefix!r})
kw = dict(full_backfill=True, today=END_DATE)
if {workers} is not None:
    kw["transform_workers"] = {workers}
t = time.perf_counter()
results = migrate(settings, MigrationOptions(**kw), tables={tables!r})
total = time.perf_counter() - t
print(json.dumps({{"total": total, "tables": {{r.table: [r.shadow.seconds, r.new.seconds,
      r.new.invariant.migrated, r.new.invariant.quarantined] for r in results}}}}))
"""


def run_blob_tables(root: Path, workers: int | None, native: bool = True) -> dict:
    """Full migration of the blob tables in a fresh process running the code under ``root``
    (``native=False``: with ``BRODY_NATIVE=0``, the pure-Python paths)."""
    code = RUN_BLOBS.format(
        root=str(root), port=PORT, prefix=PREFIX, workers=workers, tables=BLOB_TABLES
    )
    env = {**os.environ, "PYTHONPATH": str(root), "BRODY_NATIVE": "1" if native else "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def per_session(srv, sample: int) -> dict[str, float]:
    """Milliseconds per parsed_events session for each step, reference vs fast (one process)."""
    import datajoint.blob as dj_blob

    from brody_assets.migration.engine import blobs, fastblob
    from brody_assets.migration.engine.events import behavior_event_rows
    from brody_assets.migration.engine.matlab import matlab_to_python

    with srv.admin_connect() as conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT peh FROM `{PREFIX}bdata`.parsed_events ORDER BY sessid LIMIT {int(sample)}"
        )
        raw = [r[0] for r in cur.fetchall()]
    good = []
    for b in raw:
        try:
            fastblob.read_legacy(b)
            good.append(b)
        except fastblob.Unsupported:
            pass

    def clock(fn, items):
        t = time.perf_counter()
        out = [fn(x) for x in items]
        return out, (time.perf_counter() - t) / len(items) * 1e3

    ms: dict[str, float] = {"sessions": len(good), "legacy_bytes": sum(map(len, good)) / len(good)}
    decoded, ms["ref_decode"] = clock(blobs.decode_legacy_blob, good)
    values, ms["ref_convert"] = clock(matlab_to_python, decoded)
    records, ms["records"] = clock(blobs.peh_records, values)
    packed, ms["ref_pack"] = clock(blobs.pack_native, records)
    back, ms["ref_unpack"] = clock(dj_blob.unpack, packed)
    _, ms["expand"] = clock(lambda r: behavior_event_rows(1, r), back)
    fast_values, ms["fast_read"] = clock(fastblob.read_legacy, good)
    fast_packed, ms["fast_pack"] = clock(fastblob.pack_dj0, records)
    _, ms["fast_unpack"] = clock(fastblob.unpack_dj0, packed)
    assert fast_packed == packed, "fast packer differs from DataJoint's"
    from brody_assets.migration.engine import native
    from brody_assets.migration.engine.eventload import rows_text, session_event_text
    from brody_assets.migration.engine.pehfast import transcode_peh

    built, native.ext = native.ext, None  # the Python direct paths first
    try:
        direct, ms["direct_transcode"] = clock(transcode_peh, good)
        direct_lines, ms["direct_event_lines"] = clock(
            lambda b: session_event_text(behavior_event_rows, 1, b)[0], packed
        )
    finally:
        native.ext = built
    assert direct == packed, "direct transcoder differs from DataJoint's bytes"
    ref_lines, ms["ref_event_lines"] = clock(
        lambda b: rows_text(behavior_event_rows(1, dj_blob.unpack(b)).rows), packed
    )
    assert direct_lines == ref_lines, "direct event reader differs from the reference"
    if built is not None:  # the same calls with the C extension answering
        c_direct, ms["c_transcode"] = clock(transcode_peh, good)
        c_lines, ms["c_event_lines"] = clock(
            lambda b: session_event_text(behavior_event_rows, 1, b)[0], packed
        )
        assert c_direct == packed and c_lines == ref_lines, "the C extension differs"
    ms["new_bytes"] = sum(map(len, packed)) / len(packed)
    return ms


def _c_cell(ms: dict[str, float], key: str, reference: float) -> str:
    if key not in ms:
        return "(not built)"
    return f"{ms[key]:.3f} ({reference / ms[key]:.0f}x)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the legacy + SQL tables of a previous run"
    )
    parser.add_argument("--reference", type=Path, help="checkout of the code to compare with")
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    from brody_assets.migration.engine import migrate
    from brody_assets.migration.registry import MigrationOptions, entries

    root = Path(__file__).resolve().parent.parent
    srv = server("blobs", PORT)
    settings = settings_for(srv, srv, PREFIX)
    lines = [f"Machine: {machine()}; scale `{args.scale}`; one MariaDB on the same machine.", ""]
    try:
        if not args.reuse:
            t = time.perf_counter()
            manifest = build_legacy(srv, PREFIX, args.scale, settings)
            print(f"built {args.scale} in {time.perf_counter() - t:.1f} s", flush=True)
            bootstrap_both(srv, srv, settings)
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    (
                        f"import sys; sys.path.insert(0, {str(root)!r})\n"
                        "from benchmarks.common import server, settings_for\n"
                        "from brody_assets.migration.engine import declare_tables\n"
                        f"declare_tables(settings_for(server('blobs', {PORT}), server('blobs', {PORT}), {PREFIX!r}))"
                    ),
                ],
                check=True,
            )
            sql_tables = [e.name for e in entries() if e.name not in BLOB_TABLES]
            t = time.perf_counter()
            migrate(
                settings, MigrationOptions(full_backfill=True, today=END_DATE), tables=sql_tables
            )
            sql_seconds = time.perf_counter() - t
            lines.append(
                f"The {len(sql_tables)} SQL tables (full, server-side): {sql_seconds:.1f} s; "
                f"legacy sessions: {manifest['row_counts'].get('bdata.sessions', '?')}."
            )
            print(lines[-1], flush=True)
        ms = per_session(srv, args.sample)
        print(json.dumps(ms), flush=True)
        ref_convert = ms["ref_decode"] + ms["ref_convert"] + ms["records"] + ms["ref_pack"]
        fast_convert = ms["fast_read"] + ms["records"] + ms["fast_pack"]
        lines += [
            "",
            f"Per parsed_events session, one process ({int(ms['sessions'])} sessions, legacy blob "
            f"{ms['legacy_bytes']:.0f} B, new blob {ms['new_bytes']:.0f} B), ms:",
            "",
            "| step | DataJoint path | fast path |",
            "|---|---|---|",
            f"| read legacy mYm (+ MATLAB->Python) | {ms['ref_decode']:.3f} + {ms['ref_convert']:.3f} | "
            f"{ms['fast_read']:.3f} |",
            f"| per-trial records | {ms['records']:.3f} | {ms['records']:.3f} |",
            f"| pack dj0 (byte-identical) | {ms['ref_pack']:.3f} | {ms['fast_pack']:.3f} |",
            f"| legacy -> new blob | {ref_convert:.3f} | {fast_convert:.3f} ({ref_convert / fast_convert:.0f}x) |",
            f"| events: unpack new peh | {ms['ref_unpack']:.3f} | {ms['fast_unpack']:.3f} |",
            f"| events: expand (§3.7, unchanged) | {ms['expand']:.3f} | {ms['expand']:.3f} |",
            "",
            "Direct paths (bytes to bytes, no Python values; the migration uses these and falls back "
            "to the paths above for other shapes), ms per session:",
            "",
            "| step | DataJoint path | direct path (Python) | direct path (C extension) |",
            "|---|---|---|---|",
            f"| legacy mYm -> new dj0 blob (`pehfast`) | {ref_convert:.3f} | {ms['direct_transcode']:.3f} "
            f"({ref_convert / ms['direct_transcode']:.0f}x) | {_c_cell(ms, 'c_transcode', ref_convert)} |",
            f"| new blob -> behavior-event `LOAD DATA` lines (`eventload`) | {ms['ref_event_lines']:.3f} | "
            f"{ms['direct_event_lines']:.3f} ({ms['ref_event_lines'] / ms['direct_event_lines']:.0f}x) | "
            f"{_c_cell(ms, 'c_event_lines', ms['ref_event_lines'])} |",
            "",
            "(The C times include the zlib steps the extension leaves to Python: inflating both blobs, "
            "and deflating the new one at DataJoint's level so its bytes stay DataJoint's.)",
            "",
            "Full migration of the three blob tables (`migrate(full_backfill=True)`, fresh process), "
            "seconds (shadow + new); `reference` is the checkout given with `--reference`; `C`: "
            "the optional extension answers (`python`: `BRODY_NATIVE=0`):",
            "",
            "| code | workers | protocol_data | parsed_events | behavior_event | total | same rows |",
            "|---|---|---|---|---|---|---|",
        ]
        runs = []
        if args.reference:
            runs.append(("reference", args.reference, None, True))
        cpus = os.cpu_count() or 1
        runs += [("fast, python", root, 1, False), ("fast, python", root, cpus, False),
                 ("fast, C", root, 1, True), ("fast, C", root, cpus, True)]
        digests = {}
        for label, code_root, workers, use_c in runs:
            reset_blob_tables(srv, settings)
            result = run_blob_tables(code_root, workers, native=use_c)
            digest = content_digest(srv, settings)
            digests.setdefault("first", digest)
            t = result["tables"]
            cells = [sum(t[name][:2]) for name in BLOB_TABLES]
            row = (
                f"| {label} | {workers or f'default ({os.cpu_count() or 1})'} | "
                + " | ".join(f"{c:.1f}" for c in cells)
                + f" | {result['total']:.1f} | {'yes' if digest == digests['first'] else 'NO'} |"
            )
            lines.append(row)
            print(row, json.dumps(t), flush=True)
        record(f"Blob path ({args.scale})", "\n".join(lines))
    finally:
        if not args.keep:
            drop_prefix(srv, PREFIX)
            srv.stop()


if __name__ == "__main__":
    main()
