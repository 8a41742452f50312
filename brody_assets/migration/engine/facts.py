"""Facts about a migrated or shadow table as it stands after a stage: the numbers that do not
depend on the run (total rows, open ledger rows) and the columns of its heading.

A run's own figures (rows in scope, inserted, quarantined this run) are in :class:`StageResult`;
these are the table's, so an asset page can show both side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

from brody_assets.db.columns import Column, read_columns
from brody_assets.migration.registry import TableEntry

from .context import EngineContext


@dataclass(frozen=True)
class TableFacts:
    schema: str
    table: str
    row_count: int  # every row in the table now (SELECT COUNT(*))
    ledger_open: int  # legacy rows of this entry in the quarantine ledger now, any run, any stage
    columns: tuple[Column, ...]

    @property
    def qualified(self) -> str:
        """``<schema>.<table>``, e.g. ``bl_new_action.water``."""
        return f"{self.schema}.{self.table}"


def table_facts(ctx: EngineContext, e: TableEntry, layer: str) -> TableFacts:
    """Total rows, open ledger rows and columns of ``e``'s ``layer`` table ("new" or "shadow")."""
    from brody_assets.migration.schemas.naming import TABLE_NAMES

    prefix = ctx.names.new_prefix if layer == "new" else ctx.names.shadow_prefix
    schema, table = f"{prefix}{e.family}", TABLE_NAMES[(layer, e.family, e.new_class)]
    (rows,) = ctx.db.query(f"SELECT COUNT(*) FROM `{schema}`.`{table}`")[0]
    (open_rows,) = ctx.db.query(f"SELECT COUNT(*) FROM {ctx.names.ledger} WHERE table_name = %s", (e.name,))[0]
    columns = read_columns(ctx.db.query, schema, table)
    return TableFacts(schema, table, int(rows), int(open_rows), tuple(columns))
