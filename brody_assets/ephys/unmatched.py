"""``ephys/unmatched_recordings``: every folder or file on the drives that could not be ingested.

The archive-drive sensor keeps the list (``sensor_state.py``); this asset shows it in the UI as a
table — reason, path, what is wrong, since when — and the sensor requests a refresh whenever a
line appears, disappears or changes reason. Nothing found on the drive is dropped silently: a
recording is either ingested (its partition exists) or on this list.
"""

import time
from collections import Counter
from collections.abc import Sequence

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from brody_assets.ephys.discovery_store import UnmatchedEntry
from brody_assets.ephys.discovery_types import REASONS
from brody_assets.ephys.sensor_state import locked_store, store_path

UNMATCHED_KEY = AssetKey(["ephys", "unmatched_recordings"])
TABLE_ROWS = 300  # rows shown in the UI table; the whole list stays in the store file


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def unmatched_markdown(rows: Sequence[UnmatchedEntry], limit: int = TABLE_ROWS) -> str:
    """The unmatched list as a markdown table (first ``limit`` rows, sorted by reason then path)."""
    if not rows:
        return "Every recording found on the drives was ingested or is on its way: nothing to list."
    ordered = sorted(rows, key=lambda r: (r.reason_code, r.path))
    lines = ["| reason | path | what is wrong | since |", "|---|---|---|---|"]
    for row in ordered[:limit]:
        since = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.since)) if row.since else ""
        lines.append(f"| `{row.reason_code}` | `{_cell(row.path)}` | {_cell(row.detail)} | {since} |")
    if len(ordered) > limit:
        lines.append(f"\n… and {len(ordered) - limit} more (all in the sensor's store file).")
    return "\n".join(lines)


@asset(key=UNMATCHED_KEY, group_name="ephys", kinds={"json"})
def unmatched_recordings(context: AssetExecutionContext) -> MaterializeResult:
    """Recordings and folders on the archive (and cup) drive that were NOT ingested, and why.

    One line per folder or file: ambiguous (two behaviour sessions that day and no day letter),
    unmappable (unknown experimenter or rat, no session that day, a name no pattern fits),
    incomplete (a copy in progress, a .meta without its .bin) or broken (size differs from the
    .meta, unreadable, a symlink leaving the drive, changed after ingestion). Fix the folder (or
    the migrated session) and the sensor picks it up on its next tick; the line then disappears.
    """
    path = store_path(context.instance)
    with locked_store(path, write=False) as store:
        rows = store.unmatched_rows()
    counts = Counter(row.reason_code for row in rows)
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "unmatched": MetadataValue.md(unmatched_markdown(rows)),
            "by_reason": MetadataValue.json(
                {code: {"count": n, "meaning": REASONS.get(code, "")} for code, n in sorted(counts.items())}
            ),
            "store": MetadataValue.path(str(path)),
        }
    )
