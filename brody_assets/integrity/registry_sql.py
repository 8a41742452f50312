"""The migration registry seen from the integrity checks: table names, column types, and registry
SQL rewritten with the declarations' placeholders.

The registry's SQL (:mod:`brody_assets.migration.registry`) uses the engine's placeholders
(``{L:ratinfo.mass}``, ``{S}``, ``{N:subject.rats}``, ``{alias:rats}``, ``{excluded_contacts}``);
checks use :mod:`~brody_assets.integrity.declarations` placeholders (``{legacy.ratinfo}``,
``{new.action}``, ``{shadow.action}``), filled per deployment at run time. :func:`check_sql`
rewrites the one into the other, so checks derived from the registry (generic checks, windows,
drift) apply exactly the migration's own transforms. Lab options (aliases, excluded contacts) take
their default values.

MySQL table names follow DataJoint's naming rule; column types are read from the schema modules'
``definition`` strings (the shadow ones are generated from the new tables'), read from the
modules' source without importing them or DataJoint (loading the Definitions stays fast).
"""

from __future__ import annotations

import re
from functools import cache

from brody_assets.migration.registry import MigrationOptions, TableEntry, entry

# The engine's placeholders (brody_assets.migration.engine.names.PLACEHOLDER, which imports
# DataJoint: a test keeps the two equal).
PLACEHOLDER = re.compile(r"\{(L|S|N|excluded_contacts|alias)(?::([A-Za-z_.]+))?\}")


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


LEDGER = "{migration}.`quarantine`"
WATERMARK = "{migration}.`watermark`"


def snake(name: str) -> str:
    """DataJoint's class -> table rule: ``SessStarted`` -> ``sess_started``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def table_name(layer: str, e: TableEntry) -> str:
    """MySQL table of an entry in a layer (``new`` or ``shadow``), without schema."""
    master, _, part = e.new_class.partition(".")
    tier = "__" if layer == "shadow" or e.kind == "computed" else ""
    return tier + snake(master) + (f"__{snake(part)}" if part else "")


def table_ref(layer: str, e: TableEntry) -> str:
    """``{new.action}.`mass``` (a declaration placeholder plus the table)."""
    return f"{{{layer}.{e.family}}}.`{table_name(layer, e)}`"


def batch_table(layer: str, e: TableEntry) -> str:
    """``{new.action}.mass``: the entry's table as a declaration's ``table`` (its batch)."""
    return f"{{{layer}.{e.family}}}.{table_name(layer, e)}"


def legacy_ref(table: str) -> str:
    """``ratinfo.mass`` -> ``{legacy.ratinfo}.`mass```."""
    schema, name = table.split(".")
    return f"{{legacy.{schema}}}.`{name}`"


def check_sql(sql: str, e: TableEntry, options: MigrationOptions | None = None) -> str:
    """Registry SQL for entry ``e`` rewritten with declaration placeholders (literal braces doubled)."""
    options = options or MigrationOptions()
    out: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(sql):
        out.append(sql[last : match.start()].replace("{", "{{").replace("}", "}}"))
        kind, arg = match.group(1), match.group(2)
        if kind == "L":
            out.append(legacy_ref(arg))
        elif kind in ("S", "N"):
            target = entry(arg) if arg else e
            out.append(table_ref("shadow" if kind == "S" else "new", target))
        elif kind == "excluded_contacts":
            out.append(", ".join(str(int(i)) for i in options.excluded_contact_ids) or "NULL")
        else:  # alias
            aliases = dict(options.rats_netid_aliases)
            if arg == "rat_history":
                aliases.update(options.rat_history_extra_aliases)
            whens = " ".join(
                f"WHEN BINARY l.`experimenter` = {quote(k)} THEN {quote(v)}"
                for k, v in aliases.items()
            )
            out.append(f"(CASE {whens} ELSE NULL END)" if aliases else "NULL")
        last = match.end()
    out.append(sql[last:].replace("{", "{{").replace("}", "}}"))
    return "".join(out)


def source_sql(e: TableEntry) -> str:
    """The entry's legacy relation (alias ``l``) with its lookup joins."""
    return check_sql(" ".join([e.source, *e.joins]), e)


def bare_source_sql(e: TableEntry) -> str:
    """The entry's legacy relation (alias ``l``) without lookup joins."""
    return check_sql(e.source, e)


def key_json(e: TableEntry, alias: str = "l") -> str:
    """The ledger's canonical JSON key of a legacy row."""
    return "JSON_OBJECT(" + ", ".join(f"'{c}', {alias}.`{c}`" for c in e.legacy_key) + ")"


def ledgered(e: TableEntry, alias: str = "l", stage: str | None = None) -> str:
    """SQL true when the legacy row (alias ``l``) is in the quarantine ledger."""
    staged = f" AND q.stage = '{stage}'" if stage else ""
    return (
        f"EXISTS (SELECT 1 FROM {LEDGER} q WHERE q.table_name = '{e.name}' AND "
        f"q.key_int = {alias}.`{e.id_column}` AND q.legacy_key = {key_json(e, alias)}{staged})"
    )


def migrated(e: TableEntry) -> str:
    """SQL true when the legacy row (alias ``l``) has reached the new table."""
    cond = " AND ".join(f"n.`{nc}` = {check_sql(expr, e)}" for _, nc, expr in e.match)
    return f"EXISTS (SELECT 1 FROM {table_ref('new', e)} n WHERE {cond})"


def in_shadow(e: TableEntry) -> str:
    """SQL true when the legacy row (alias ``l``) has reached the shadow table."""
    cond = " AND ".join(f"s.`{sc}` = {check_sql(expr, e)}" for sc, _, expr in e.match)
    return f"EXISTS (SELECT 1 FROM {table_ref('shadow', e)} s WHERE {cond})"


def handled(e: TableEntry, alias: str = "l") -> str:
    """SQL true when a run has already handled the legacy row: its id is at or below the table's
    high-water mark (rows above it arrived after the last run and are pending, not lost)."""
    return (
        f"{alias}.`{e.id_column}` <= (SELECT w.high_key FROM {WATERMARK} w "
        f"WHERE w.table_name = '{e.name}')"
    )


def legacy_key_columns(e: TableEntry, alias: str = "l") -> str:
    return ", ".join(f"{alias}.`{c}`" for c in e.legacy_key)


# -- column types from the DataJoint definitions -----------------------------------------------

_ATTRIBUTE = re.compile(
    r"^\s*([a-z][a-z0-9_]*)\s*(?:=\s*(?:'[^']*'|\"[^\"]*\"|[^:]*?))?\s*:\s*([^#]+)"
)


@cache
def _definitions() -> dict[tuple[str, str], dict[str, str]]:
    """(layer, ``Class`` or ``Master.Part``) -> {column: type} for attributes written out.

    Read from the classes' ``definition`` strings as the schema modules build them (shadow
    definitions are generated from the new tables', foreign keys already expanded), statically:
    :mod:`brody_assets.migration.schemas.static` reads the modules' source, so loading the checks
    imports neither DataJoint nor the schema modules.
    """
    from brody_assets.migration.schemas.static import static_definitions

    out: dict[tuple[str, str], dict[str, str]] = {}
    for (stem, path), definition in static_definitions().items():
        columns = {}
        for line in definition.splitlines():
            match = _ATTRIBUTE.match(line)
            if match and not line.strip().startswith("->"):
                columns[match.group(1)] = match.group(2).strip().lower()
        out[(stem.split("_", 1)[0], path)] = columns
    return out


def column_types(layer: str, e: TableEntry) -> dict[str, str]:
    """{column: declared type} of the entry's table in ``layer`` (foreign-key columns excluded)."""
    return dict(_definitions().get((layer, e.new_class), {}))
