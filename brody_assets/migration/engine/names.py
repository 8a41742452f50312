"""Physical table names and the rendering of registry SQL placeholders.

``{L:ratinfo.mass}`` becomes the legacy table (server-side path) or its staging copy
``{new_prefix}staging.ratinfo__mass`` (streamed path); ``{S}``/``{N}`` this entry's shadow/new
table; ``{S:family.table}``/``{N:family.table}`` another entry's; ``{excluded_contacts}`` and
``{alias:rats}``/``{alias:rat_history}`` come from :class:`MigrationOptions`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from brody_assets.migration.registry import MigrationOptions, TableEntry, entry

PLACEHOLDER = re.compile(r"\{(L|S|N|excluded_contacts|alias)(?::([A-Za-z_.]+))?\}")


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass(frozen=True)
class Names:
    """Where every table of one deployment lives, and how registry SQL is rendered for it."""

    legacy_prefix: str
    new_prefix: str
    shadow_prefix: str
    streamed: bool = False

    @property
    def staging_schema(self) -> str:
        return f"{self.new_prefix}staging"

    @property
    def ledger_schema(self) -> str:
        return f"{self.new_prefix}migration"

    @property
    def ledger(self) -> str:
        return f"`{self.ledger_schema}`.`quarantine`"

    def legacy(self, table: str, staged: bool | None = None) -> str:
        """``"ratinfo.mass"`` -> the real legacy table, or its staging copy when streaming."""
        schema, name = table.split(".")
        if self.streamed if staged is None else staged:
            return f"`{self.staging_schema}`.`{schema}__{name}`"
        return f"`{self.legacy_prefix}{schema}`.`{name}`"

    def table(self, layer: str, e: TableEntry) -> str:
        from brody_assets.migration.schemas.naming import TABLE_NAMES  # DataJoint: only when needed

        prefix = self.new_prefix if layer == "new" else self.shadow_prefix
        return f"`{prefix}{e.family}`.`{TABLE_NAMES[(layer, e.family, e.new_class)]}`"

    def new(self, e: TableEntry) -> str:
        return self.table("new", e)

    def shadow(self, e: TableEntry) -> str:
        return self.table("shadow", e)

    def render(self, sql: str, e: TableEntry, options: MigrationOptions) -> str:
        """Fill the placeholders of ``sql`` for entry ``e``."""

        def fill(match: re.Match) -> str:
            kind, arg = match.group(1), match.group(2)
            if kind == "L":
                return self.legacy(arg)
            if kind in ("S", "N"):
                target = entry(arg) if arg else e
                return self.shadow(target) if kind == "S" else self.new(target)
            if kind == "excluded_contacts":
                ids = [str(int(i)) for i in options.excluded_contact_ids]
                return ", ".join(ids) if ids else "NULL"
            if kind == "alias":
                aliases = dict(options.rats_netid_aliases)
                if arg == "rat_history":
                    aliases.update(options.rat_history_extra_aliases)
                if not aliases:
                    return "NULL"
                whens = " ".join(
                    f"WHEN BINARY l.`experimenter` = {quote(k)} THEN {quote(v)}" for k, v in aliases.items()
                )
                return f"(CASE {whens} ELSE NULL END)"
            raise KeyError(kind)

        return PLACEHOLDER.sub(fill, sql)


def legacy_tables_in(sql: str) -> set[str]:
    """Legacy tables a piece of registry SQL reads (``{L:...}`` placeholders)."""
    return {m.group(2) for m in PLACEHOLDER.finditer(sql) if m.group(1) == "L"}
