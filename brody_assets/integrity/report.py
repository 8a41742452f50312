"""The integrity report: every check's latest result and since when it has failed, as text and HTML.

Reads the Dagster instance's asset-check execution history (the checks tab's own source), so the
report needs no database connection. Used by the ``integrity/report`` asset and by the
``brody-assets integrity`` command (:func:`integrity_report_main`).

The HTML page is self-contained (inline CSS, no scripts, no external references) and is written
under the instance's storage directory: ``$DAGSTER_HOME/storage/integrity/integrity_report.html``.

Dagster is imported inside the functions that need it (this module is shared with the CLI).
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPORT_DIR = "integrity"
REPORT_FILE = "integrity_report.html"
_PAGE = 100
_MAX_PAGES = 50


@dataclass
class ReportRow:
    """One check in the report."""

    asset: str
    name: str
    status: str  # PASSED | FAILED | NEVER_RUN
    severity: str  # ERROR | WARN | "" (never run)
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    last_run_at: datetime | None = None
    failing_since: datetime | None = None
    failing_since_is_lower_bound: bool = False  # history ended while still failing
    failed_runs: int = 0  # consecutive failed executions up to the latest
    run_id: str | None = None
    error: str | None = None
    failing_rows: str = ""
    spec: str = ""

    @property
    def since_text(self) -> str:
        if self.failing_since is None:
            return ""
        text = _when(self.failing_since)
        return f"before {text}" if self.failing_since_is_lower_bound else text


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _value(metadata: dict, key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def _records(instance, key, cursor=None):
    return instance.event_log_storage.get_asset_check_execution_history(
        key, limit=_PAGE, cursor=cursor
    )


def summarize_one(instance, key) -> ReportRow:
    """The report row of one check key from its execution history (newest first)."""
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus as Status,
    )

    row = ReportRow(
        asset="/".join(key.asset_key.path), name=key.name, status="NEVER_RUN", severity=""
    )
    latest = None
    streak_start = None
    cursor = None
    for _ in range(_MAX_PAGES):
        records = _records(instance, key, cursor)
        ended = False
        for record in records:
            if record.status == Status.PLANNED:  # running now, or a run that never reported
                continue
            if latest is None:
                latest = record
            if latest.status == Status.FAILED and record.status == Status.FAILED:
                streak_start = record
                row.failed_runs += 1
            else:
                ended = True
                break
        if ended or len(records) < _PAGE:
            break
        cursor = records[-1].id
    else:
        row.failing_since_is_lower_bound = True  # still failing as far back as we looked
    if latest is None:
        return row
    evaluation = latest.evaluation
    metadata = dict(evaluation.metadata) if evaluation is not None else {}
    row.status = "FAILED" if latest.status == Status.FAILED else "PASSED"
    severity = getattr(evaluation, "severity", None)
    row.severity = getattr(severity, "value", "") or ""
    row.last_run_at = datetime.fromtimestamp(latest.create_timestamp, UTC)
    row.run_id = latest.run_id
    count = _value(metadata, "unexpected_count")
    row.unexpected_count = int(count) if isinstance(count, (int, float)) else None
    percent = _value(metadata, "unexpected_percent")
    row.unexpected_percent = float(percent) if isinstance(percent, (int, float)) else None
    error = _value(metadata, "error")
    row.error = error if error and error != "none" else None
    row.failing_rows = _value(metadata, "failing_rows") or ""
    if row.failing_rows == "_no failing rows_":
        row.failing_rows = ""
    row.spec = _value(metadata, "spec") or ""
    if row.spec == "-":
        row.spec = ""
    if row.status == "FAILED" and streak_start is not None:
        row.failing_since = datetime.fromtimestamp(streak_start.create_timestamp, UTC)
    else:
        row.failing_since_is_lower_bound = False
    return row


def summarize(instance, check_keys: Sequence[Any]) -> list[ReportRow]:
    """Every check with pass/fail, severity, counts and since when it has failed.

    Sorted: failing ERROR first, then failing WARN, never run, passing; then by asset and name.
    """
    rows = [summarize_one(instance, key) for key in check_keys]
    order = {("FAILED", "ERROR"): 0, ("FAILED", "WARN"): 1}

    def rank(r: ReportRow) -> tuple:
        if r.status == "FAILED":
            return (order.get((r.status, r.severity), 1), r.asset, r.name)
        return (2 if r.status == "NEVER_RUN" else 3, r.asset, r.name)

    return sorted(rows, key=rank)


# -- text ------------------------------------------------------------------------------------


def _count(row: ReportRow) -> str:
    if row.unexpected_count is None:
        return ""
    text = f"{row.unexpected_count:,}"
    if row.unexpected_percent is not None:
        text += f" ({row.unexpected_percent:.4g}%)"
    return text


def render_markdown(rows: Sequence[ReportRow]) -> str:
    """The summary as a markdown table (asset metadata)."""
    lines = [
        "| check | asset | status | severity | unexpected | failing since |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        status = r.status + (" (error)" if r.error else "")
        lines.append(
            f"| {r.name} | {r.asset} | {status} | {r.severity} | {_count(r)} | {r.since_text} |"
        )
    return "\n".join(lines)


def counts_by_severity(rows: Sequence[ReportRow]) -> dict[str, dict[str, int]]:
    """``{"ERROR": {"passing": n, "failing": n, "errored": n}, "WARN": {...}}`` over the checks'
    latest results (a check that errored is failing too; ``errored`` counts those)."""
    counts = {level: {"passing": 0, "failing": 0, "errored": 0} for level in ("ERROR", "WARN")}
    for r in rows:
        if r.status == "NEVER_RUN" or r.severity not in counts:
            continue
        counts[r.severity]["failing" if r.status == "FAILED" else "passing"] += 1
        if r.error:
            counts[r.severity]["errored"] += 1
    return counts


def render_summary(rows: Sequence[ReportRow], generated: datetime, html_url: str | None = None) -> str:
    """The report as markdown for the asset page: when, counts by severity, the failing checks."""
    counts = counts_by_severity(rows)
    latest = max((r.last_run_at for r in rows if r.last_run_at), default=None)
    never = sum(r.status == "NEVER_RUN" for r in rows)
    lines = [
        f"Generated **{_when(generated)}** from the latest result of each of the {len(rows)} checks"
        + (f" (newest check result: {_when(latest)})." if latest else " (no check has run yet)."),
        "",
        "| severity | passing | failing | of which errored |",
        "|---|---:|---:|---:|",
    ]
    for level in ("ERROR", "WARN"):
        c = counts[level]
        lines.append(f"| {level} | {c['passing']} | {c['failing']} | {c['errored']} |")
    if never:
        lines += ["", f"{never} check(s) have never run."]
    failing = [r for r in rows if r.status == "FAILED"]
    lines += ["", f"**Failing checks ({len(failing)})**" + (":" if failing else ": none."), ""]
    for r in failing:
        percent = f" ({r.unexpected_percent:.4g}%)" if r.unexpected_percent is not None else ""
        what = (f"errored: {r.error.splitlines()[0][:160]}" if r.error
                else f"{r.unexpected_count or 0:,} unexpected{percent}")
        lines.append(
            f"- **{r.name}** on `{r.asset}` ({r.severity}): {what}; failing since {r.since_text}"
        )
    if html_url:
        lines += ["", f"Full report with the failing rows: [HTML page]({html_url})"]
    return "\n".join(lines)


def render_text(rows: Sequence[ReportRow]) -> str:
    """The summary as aligned plain text (the CLI)."""
    header = ("STATUS", "SEVERITY", "CHECK", "ASSET", "UNEXPECTED", "FAILING SINCE")
    table = [header] + [
        (r.status, r.severity, r.name, r.asset, _count(r), r.since_text) for r in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    out = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    failing = [r for r in rows if r.status == "FAILED"]
    out.append("")
    out.append(
        f"{len(rows)} checks: {len(rows) - len(failing) - sum(r.status == 'NEVER_RUN' for r in rows)} "
        f"passing, {sum(r.severity == 'ERROR' for r in failing)} failing with ERROR, "
        f"{sum(r.severity == 'WARN' for r in failing)} failing with WARN, "
        f"{sum(r.status == 'NEVER_RUN' for r in rows)} never run"
    )
    for r in failing:
        if r.error:
            out.append(f"  {r.name}: error: {r.error.splitlines()[0][:200]}")
    return "\n".join(out)


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.5rem;margin-bottom:.2rem}
.meta{color:#5b6472;margin-bottom:1.5rem}
.cards{display:flex;gap:1rem;margin-bottom:1.5rem}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.6rem 1rem;min-width:7rem}
.card b{display:block;font-size:1.4rem}
table{border-collapse:collapse;background:#fff;margin:.3rem 0 1rem 0}
th,td{border:1px solid #dde1e6;padding:.3rem .55rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#eef1f4}
tr.FAILED-ERROR td.status{background:#fbe3e4;color:#9b1c1f;font-weight:600}
tr.FAILED-WARN td.status{background:#fff4d6;color:#7a5300;font-weight:600}
tr.PASSED td.status{background:#e3f6e8;color:#1c6b35}
tr.NEVER_RUN td.status{color:#5b6472}
details{margin:.2rem 0 1.2rem 0}
summary{cursor:pointer;font-weight:600}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f2f4f7;padding:.5rem;white-space:pre-wrap}
.error{color:#9b1c1f}
"""


def _inline(text: str) -> str:
    """Escaped text with markdown's **bold** and `code`."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _cells(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [p.strip().replace("\\|", "|") for p in parts]


def markdown_to_html(text: str) -> str:
    """The small markdown subset the checks write: paragraphs and pipe tables."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        if lines and all(line.strip().startswith("|") for line in lines) and len(lines) >= 2:
            head = _cells(lines[0])
            body = [_cells(line) for line in lines[2:]]
            out.append(
                "<table><tr>"
                + "".join(f"<th>{html.escape(c)}</th>" for c in head)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                    for row in body
                )
                + "</table>"
            )
        elif lines:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(out)


def render_html(rows: Sequence[ReportRow], generated: datetime | None = None) -> str:
    generated = generated or datetime.now(UTC)
    failing = [r for r in rows if r.status == "FAILED"]
    cards = [
        ("checks", len(rows)),
        ("failing ERROR", sum(r.severity == "ERROR" for r in failing)),
        ("failing WARN", sum(r.severity == "WARN" for r in failing)),
        ("never run", sum(r.status == "NEVER_RUN" for r in rows)),
        ("passing", sum(r.status == "PASSED" for r in rows)),
    ]
    summary_rows = []
    for r in rows:
        css = f"{r.status}-{r.severity}" if r.status == "FAILED" else r.status
        anchor = f"#{html.escape(r.asset)}:{html.escape(r.name)}" if r.status == "FAILED" else ""
        name = f'<a href="{anchor}">{html.escape(r.name)}</a>' if anchor else html.escape(r.name)
        summary_rows.append(
            f'<tr class="{css}"><td class="status">{r.status}</td><td>{html.escape(r.severity)}</td>'
            f"<td>{name}</td><td>{html.escape(r.spec)}</td><td>{html.escape(r.asset)}</td>"
            f"<td>{_count(r)}</td><td>{html.escape(r.since_text)}</td>"
            f"<td>{html.escape(_when(r.last_run_at))}</td></tr>"
        )
    details = []
    for r in failing:
        body = []
        if r.error:
            body.append(f'<pre class="error">{html.escape(r.error)}</pre>')
        if r.failing_rows:
            body.append(markdown_to_html(r.failing_rows))
        details.append(
            f'<details open id="{html.escape(r.asset)}:{html.escape(r.name)}"><summary>'
            f"{html.escape(r.name)} on {html.escape(r.asset)} ({html.escape(r.severity)}, "
            f"{_count(r)}, failing since {html.escape(r.since_text)}, "
            f"{r.failed_runs} run(s) in a row, last run {html.escape(r.run_id or '')})</summary>"
            + "\n".join(body)
            + "</details>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>brody_assets integrity report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>Integrity report</h1>"
        f'<div class="meta">brody_assets — generated {_when(generated)} from the Dagster '
        "instance's check history</div>"
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{n}</b>{html.escape(label)}</div>' for label, n in cards)
        + "</div>"
        "<table><tr><th>status</th><th>severity</th><th>check</th><th>spec</th><th>asset</th>"
        "<th>unexpected</th><th>failing since</th><th>last run</th></tr>"
        + "".join(summary_rows)
        + "</table>"
        + ("<h2>Failing checks</h2>" + "\n".join(details) if details else "")
        + "</body></html>\n"
    )


def write_html(rows: Sequence[ReportRow], storage_dir: str | Path, generated: datetime | None = None) -> Path:
    """Write the page under ``<storage_dir>/integrity/`` and return its path."""
    folder = Path(storage_dir) / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_html(rows, generated), encoding="utf-8")
    tmp.replace(path)
    return path


# -- the CLI ---------------------------------------------------------------------------------


def add_integrity_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``brody-assets integrity`` (the lead wires this into cli.py)."""
    parser.add_argument(
        "--run", action="store_true", help="run the integrity_checks job first (in this process, as a run of the code location)"
    )
    parser.add_argument("--failing", action="store_true", help="list failing checks only")
    parser.add_argument("--no-html", action="store_true", help="do not write the HTML report")
    return parser


def _instance():
    from dagster import DagsterInstance

    from brody_assets.instance.home import prepare_home

    prepare_home()
    return DagsterInstance.get()


def integrity_report_main(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """``brody-assets integrity``: print every check's status; write the HTML report.

    Exit status: 0 when no check fails with ERROR, 1 otherwise.
    """
    if not isinstance(args, argparse.Namespace):
        parser = add_integrity_arguments(argparse.ArgumentParser(prog="brody-assets integrity"))
        args = parser.parse_args(list(args) if args is not None else [])
    from brody_assets.definitions import defs

    instance = _instance()
    if getattr(args, "run", False):
        from brody_assets.instance.shell import run_job
        from brody_assets.integrity.checks import CHECKS_JOB

        result = run_job(CHECKS_JOB, instance)
        print(
            f"ran {CHECKS_JOB}: run {result.run_id} {'succeeded' if result.success else 'failed'}"
        )
    keys = sorted(
        defs.resolve_asset_graph().asset_check_keys, key=lambda k: (k.asset_key.path, k.name)
    )
    rows = summarize(instance, keys)
    shown = [r for r in rows if r.status == "FAILED"] if getattr(args, "failing", False) else rows
    print(render_text(shown))
    if not getattr(args, "no_html", False):
        path = write_html(rows, instance.storage_directory())
        print(f"HTML report: {path}")
    return 1 if any(r.status == "FAILED" and r.severity == "ERROR" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(integrity_report_main(sys.argv[1:]))
