"""Build the whole demo: legacy database (+ defect manifest), accounts, and archive/cup drives.

Used by the CLI, the tests and the benchmarks; never by production assets.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from brody_assets.config import Settings
from brody_assets.db.accounts import bootstrap


@dataclass
class DemoSummary:
    scale: str
    seed: int
    manifest_path: Path
    row_counts: dict[str, int]
    defect_rows: int
    recordings: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        total = sum(self.row_counts.values())
        out = [
            f"legacy database: scale '{self.scale}', seed {self.seed}, {total:,} rows in "
            f"{len(self.row_counts)} tables, {self.defect_rows:,} injected defect rows",
            f"ground-truth manifest: {self.manifest_path}",
        ]
        if self.recordings:
            probes = sum(len(r["probes"]) for r in self.recordings)
            broken = sorted(r["defect"] for r in self.recordings if r.get("defect"))
            out.append(
                f"demo drives: {len(self.recordings)} recordings ({probes} probes), "
                f"{len(broken)} broken on purpose ({', '.join(broken) or 'none'})"
            )
        out.append(f"built in {self.seconds:.1f} s")
        return out


def demo_recordings(conn: pymysql.Connection, settings: Settings, count: int | None = None) -> list:
    """Pick recent behaviour sessions (one per rat and day, one contact) to give the demo
    drives' recordings, clean ones, variants and defects (``drives.DEMO_PLAN``) in that order."""
    from brody_assets.demo.drives import DEMO_PLAN, demo_plan

    bdata, ratinfo = settings.legacy_schema("bdata"), settings.legacy_schema("ratinfo")
    with conn.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT c.experimenter, s.ratname, s.sessiondate
            FROM `{bdata}`.sessions s
            JOIN `{ratinfo}`.contacts c ON c.experimenter = s.experimenter
            JOIN `{ratinfo}`.rats r ON r.ratname = s.ratname
            WHERE s.sessiondate > '1000-01-01'
            GROUP BY c.experimenter, s.ratname, s.sessiondate
            HAVING COUNT(DISTINCT c.contactid) = 1 AND COUNT(DISTINCT s.sessid) = 1
            ORDER BY s.sessiondate DESC, s.ratname
            LIMIT %s
            """,
            (count if count is not None else len(DEMO_PLAN),),
        )
        rows = cursor.fetchall()
    return demo_plan(rows)


def build_demo(
    admin: pymysql.Connection,
    settings: Settings,
    demo_dir: Path,
    scale: str = "small",
    seed: int = 7,
    with_drives: bool = True,
) -> DemoSummary:
    """Generate the legacy database, bootstrap both accounts, and write the demo drives."""
    from brody_assets.demo.legacy import build_legacy_database

    started = time.perf_counter()
    demo_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = demo_dir / "manifest.json"
    manifest = build_legacy_database(
        admin, settings.legacy_schema_prefix, scale=scale, seed=seed, manifest_path=manifest_path
    )
    bootstrap(admin, settings)
    summary = DemoSummary(
        scale=scale,
        seed=seed,
        manifest_path=manifest_path,
        row_counts=dict(manifest["row_counts"]),
        defect_rows=len(manifest["defects"]),
    )
    if with_drives:
        from brody_assets.demo.drives import build_demo_drives

        if settings.archive_root is None or settings.cup_root is None:
            raise ValueError(
                "the demo drives need 'custom.ephys_root_data_dir' = [archive, cup] in the config"
            )
        for root in (settings.archive_root, settings.cup_root):
            root.mkdir(parents=True, exist_ok=True)
        summary.recordings = build_demo_drives(
            settings.archive_root,
            settings.cup_root,
            demo_recordings(admin, settings),
            seed=seed,
            manifest_path=demo_dir / "drives_manifest.json",
        )
    summary.seconds = time.perf_counter() - started
    (demo_dir / "summary.json").write_text(
        json.dumps({"scale": scale, "seed": seed, "row_counts": summary.row_counts,
                    "defect_rows": summary.defect_rows, "seconds": round(summary.seconds, 2)}, indent=2)
    )
    return summary
