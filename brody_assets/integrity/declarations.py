"""Integrity checks as data: the declaration model, its validation, and the YAML / dict loader.

A check is declared once, as data, and everything else is generated from it: the Great Expectations
suites (``runner``), the Dagster asset checks (``checks``) and the report (``report``). A
declaration names the check (the spec's snake_case name, which becomes the Dagster check name), the
asset it is attached to, the spec number, its severity, whether it blocks downstream assets, and
one or more expectation specs over one *batch*: the table (or query) whose rows the check counts,
which is also the denominator of the unexpected percent.

Where declarations live: the spec's checks are YAML files under ``resources/expectations/`` (mostly
SQL, which reads best as block text and is edited by people who know the lab's tables, not Python);
generic per-table checks come from the migration registry in Python. Both end up as the same
:class:`CheckDeclaration` through :func:`declarations_from_dicts`.

SQL placeholders, filled from :class:`~brody_assets.config.Settings` at run time:

``{legacy.ratinfo}``  the legacy schema (``Settings.legacy_schema``), backquoted
``{new.action}``      ``Settings.new_prefix + "action"``, backquoted
``{shadow.action}``   ``Settings.shadow_prefix + "action"``, backquoted
``{migration}``       ``Settings.new_prefix + "migration"`` (the quarantine ledger's schema)
``{name:legacy.bdata}`` the schema's name as a quoted SQL string (to filter information_schema)
``{batch}``           the check's batch table, filled by Great Expectations

An expectation that joins legacy with pipeline tables may say, in ``cross_server``, which legacy
rows it can be about (per legacy table, a provider such as ``{lost: shadow}``): that is how it
runs when legacy lives on another server (:mod:`brody_assets.integrity.xserver`); without it the
legacy tables it reads are fetched whole (bounded).

Any other brace must be doubled (``{{`` / ``}}``): Great Expectations formats queries with
``str.format``.

This module imports neither Dagster nor Great Expectations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brody_assets.config import PROJECT_ROOT, Settings

EXPECTATIONS_DIR = PROJECT_ROOT / "resources" / "expectations"

SEVERITIES = ("ERROR", "WARN")
KINDS = (
    "unexpected_rows",
    "unique",
    "not_null",
    "values_between",
    "in_set",
    "row_count_equal_query",
)
CONNECTIONS = ("database", "legacy")
# Providers of ``cross_server`` (which legacy rows a mixed check needs; brody_assets.integrity.xserver).
CROSS_PROVIDERS = (
    "lost",
    "lost_window",
    "drift",
    "deleted",
    "window",
    "in",
    "not_in",
    "missing_in",
    "any",
)
SAMPLE_ROWS = 20

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_IDENT = re.compile(r"^[A-Za-z0-9_$]+$")
# A brace field that is not a doubled literal brace.
_FIELD = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")
_PLACEHOLDER = re.compile(r"^(?:(legacy|new|shadow)\.([A-Za-z0-9_]+)|migration|batch)$")
# ``{name:legacy.ratinfo}``: the schema's name as an SQL string (for information_schema queries).
_NAME_OF = "name:"


class DeclarationError(ValueError):
    """A check declaration is malformed (the message names the file and the check)."""


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a check. ``kind`` picks the Great Expectations expectation.

    ``unexpected_rows``        ``sql`` returns the violating rows (legacy keys + offending values);
                               ``order_by`` orders the sample. -> ``UnexpectedRowsExpectation``
    ``unique``                 ``columns`` (one or more) unique together -> ``ExpectColumnValuesToBeUnique``
                               / ``ExpectCompoundColumnsToBeUnique``
    ``not_null``               ``column`` -> ``ExpectColumnValuesToNotBeNull``
    ``values_between``         ``column``, ``min`` / ``max`` (``today`` = the run's date)
                               -> ``ExpectColumnValuesToBeBetween``
    ``in_set``                 ``column``, ``values`` -> ``ExpectColumnValuesToBeInSet``
    ``row_count_equal_query``  ``sql`` returns one number that must equal the batch's row count
                               (e.g. migrated + quarantined) -> ``UnexpectedRowsExpectation``
    """

    kind: str
    sql: str | None = None
    columns: tuple[str, ...] = ()
    min: Any = None
    max: Any = None
    values: tuple[Any, ...] = ()
    order_by: str | None = None
    severity: str | None = None  # overrides the check's severity for this expectation
    description: str | None = None
    # When legacy is on another server: which legacy rows a mixed expectation needs, per legacy
    # table ("ratinfo.mass" -> provider); see brody_assets.integrity.xserver.
    cross_server: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def column(self) -> str:
        return self.columns[0]

    def describe(self) -> str:
        if self.description:
            return self.description
        cols = ", ".join(self.columns)
        return {
            "unexpected_rows": "rows returned by the check's SQL",
            "unique": f"({cols}) unique",
            "not_null": f"{cols} not NULL",
            "values_between": f"{cols} between {self.min} and {self.max}",
            "in_set": f"{cols} in {list(self.values)}",
            "row_count_equal_query": "row count equals the expected count",
        }[self.kind]


@dataclass(frozen=True)
class CheckDeclaration:
    """One integrity check: where it is attached, how bad a failure is, what it expects."""

    name: str
    asset: tuple[str, ...]
    spec: str
    severity: str
    blocking: bool
    description: str
    expectations: tuple[ExpectationSpec, ...]
    table: str | None = None  # "{legacy.ratinfo}.mass" / "schema.table": the batch
    query: str | None = None  # or a SELECT whose rows are the batch
    key_columns: tuple[str, ...] = ()
    connection: str = "database"
    source: str = ""  # where it was declared (file name), for error messages
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def asset_path(self) -> str:
        return "/".join(self.asset)

    @property
    def key(self) -> str:
        """``asset/path:name``: unique across declarations (a name may repeat on other assets)."""
        return f"{self.asset_path}:{self.name}"

    @property
    def batch_ref(self) -> str:
        return self.table or self.query or ""


# -- rendering -------------------------------------------------------------------------------


def schema_for(placeholder: str, settings: Settings) -> str:
    """The real schema name behind ``legacy.X`` / ``new.X`` / ``shadow.X`` / ``migration``."""
    if placeholder == "migration":
        return f"{settings.new_prefix}migration"
    layer, _, name = placeholder.partition(".")
    if layer == "legacy":
        return settings.legacy_schema(name)
    if layer == "new":
        return f"{settings.new_prefix}{name}"
    if layer == "shadow":
        return f"{settings.shadow_prefix}{name}"
    raise DeclarationError(f"unknown schema placeholder {{{placeholder}}}")


def render_sql(sql: str, settings: Settings) -> str:
    """Fill the schema placeholders; keep ``{batch}`` and doubled braces for Great Expectations."""

    def fill(match: re.Match) -> str:
        inner = match.group(1)
        if inner == "batch":
            return match.group(0)
        if inner.startswith(_NAME_OF):
            return "'" + schema_for(inner[len(_NAME_OF) :], settings).replace("'", "''") + "'"
        return f"`{schema_for(inner, settings)}`"

    return _FIELD.sub(fill, sql)


def render_table(table: str, settings: Settings) -> tuple[str, str]:
    """``{legacy.ratinfo}.mass`` -> (``bl_ratinfo``, ``mass``)."""
    schema, _, name = table.rpartition(".")
    match = _FIELD.fullmatch(schema)
    if match:
        schema = schema_for(match.group(1), settings)
    return schema, name


def unformat(sql: str) -> str:
    """SQL as the server sees it (doubled braces undone, ``{batch}`` left): for people to read."""
    return sql.replace("{{", "{").replace("}}", "}")


# -- loading ---------------------------------------------------------------------------------

_CHECK_KEYS = {
    "name",
    "asset",
    "spec",
    "severity",
    "blocking",
    "description",
    "expectations",
    "table",
    "query",
    "key_columns",
    "connection",
    "tags",
}
_EXPECTATION_KEYS = {
    "kind",
    "sql",
    "column",
    "columns",
    "min",
    "max",
    "values",
    "order_by",
    "severity",
    "description",
    "cross_server",
}
_REQUIRED = {
    "unexpected_rows": ("sql",),
    "row_count_equal_query": ("sql",),
    "unique": ("columns",),
    "not_null": ("columns",),
    "values_between": ("columns",),
    "in_set": ("columns", "values"),
}


def _check_placeholders(sql: str, where: str) -> None:
    for match in _FIELD.finditer(sql):
        inner = match.group(1)
        if inner.startswith(_NAME_OF):
            inner = inner[len(_NAME_OF) :]
        if not _PLACEHOLDER.match(inner) or inner == "batch" and match.group(1) != inner:
            raise DeclarationError(
                f"{where}: unknown placeholder {match.group(0)!r} in SQL (known: {{legacy.X}}, "
                "{new.X}, {shadow.X}, {migration}, {batch}; double a literal brace: {{ }})"
            )
    stripped = _FIELD.sub("", sql).replace("{{", "").replace("}}", "")
    if "{" in stripped or "}" in stripped:
        raise DeclarationError(f"{where}: unpaired brace in SQL (double a literal brace: {{ }})")


def _expectation(raw: Any, where: str) -> ExpectationSpec:
    if not isinstance(raw, Mapping):
        raise DeclarationError(f"{where}: an expectation must be a mapping, got {raw!r}")
    unknown = set(raw) - _EXPECTATION_KEYS
    if unknown:
        raise DeclarationError(f"{where}: unknown expectation field(s) {sorted(unknown)}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise DeclarationError(f"{where}: expectation kind must be one of {KINDS}, got {kind!r}")
    columns = raw.get("columns", raw.get("column", ()))
    if isinstance(columns, str):
        columns = (columns,)
    columns = tuple(columns)
    for column in columns:
        if not isinstance(column, str) or not _IDENT.match(column):
            raise DeclarationError(f"{where}: bad column name {column!r}")
    values = tuple(raw.get("values", ()))
    cross = raw.get("cross_server")
    if cross is not None and (
        not isinstance(cross, Mapping)
        or not all(isinstance(k, str) and re.fullmatch(r"[a-z]+\.[A-Za-z0-9_]+", k) for k in cross)
        or not all(_provider_ok(v) for v in cross.values())
    ):
        raise DeclarationError(
            f"{where}: 'cross_server' maps legacy tables ('ratinfo.mass') to providers "
            f"('all' or one of {CROSS_PROVIDERS}, e.g. {{lost: shadow}}), got {cross!r}"
        )
    spec = ExpectationSpec(
        kind=kind,
        sql=raw.get("sql"),
        columns=columns,
        min=raw.get("min"),
        max=raw.get("max"),
        values=values,
        order_by=raw.get("order_by"),
        severity=raw.get("severity"),
        description=raw.get("description"),
        cross_server=dict(cross) if cross is not None else None,
    )
    for needed in _REQUIRED[kind]:
        if not getattr(spec, needed):
            raise DeclarationError(f"{where}: a {kind} expectation needs '{needed}'")
    if kind in ("not_null", "values_between", "in_set") and len(columns) != 1:
        raise DeclarationError(f"{where}: a {kind} expectation takes exactly one column")
    if kind == "values_between" and spec.min is None and spec.max is None:
        raise DeclarationError(f"{where}: values_between needs 'min' and/or 'max'")
    if spec.severity is not None and spec.severity not in SEVERITIES:
        raise DeclarationError(f"{where}: severity must be one of {SEVERITIES}")
    if spec.sql is not None:
        if not isinstance(spec.sql, str):
            raise DeclarationError(f"{where}: 'sql' must be text")
        _check_placeholders(spec.sql, where)
    return spec


def _provider_ok(provider: Any) -> bool:
    if provider == "all":
        return True
    if not isinstance(provider, Mapping):
        return False
    kinds = [k for k in provider if k != "entry"]
    if len(kinds) != 1 or kinds[0] not in CROSS_PROVIDERS:
        return False
    if kinds[0] == "any":
        return isinstance(provider["any"], list) and all(map(_provider_ok, provider["any"]))
    return True


def declaration_from_dict(raw: Mapping[str, Any], source: str = "") -> CheckDeclaration:
    """Validate one declaration mapping (from YAML or Python) into a :class:`CheckDeclaration`."""
    name = raw.get("name") if isinstance(raw, Mapping) else None
    where = f"{source or 'declaration'}: check {name!r}"
    if not isinstance(raw, Mapping):
        raise DeclarationError(f"{where}: a check must be a mapping")
    unknown = set(raw) - _CHECK_KEYS
    if unknown:
        raise DeclarationError(f"{where}: unknown field(s) {sorted(unknown)}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise DeclarationError(f"{where}: 'name' must be snake_case")
    asset = raw.get("asset")
    if isinstance(asset, str):
        asset = tuple(asset.split("/"))
    if not asset or not all(isinstance(p, str) and p for p in asset):
        raise DeclarationError(f"{where}: 'asset' must be a key path like 'migrated/action/mass'")
    severity = raw.get("severity", "ERROR")
    if severity not in SEVERITIES:
        raise DeclarationError(f"{where}: severity must be one of {SEVERITIES}, got {severity!r}")
    blocking = raw.get("blocking", False)
    if not isinstance(blocking, bool):
        raise DeclarationError(f"{where}: 'blocking' must be true or false")
    table, query = raw.get("table"), raw.get("query")
    if (table is None) == (query is None):
        raise DeclarationError(f"{where}: give exactly one of 'table' (the batch) or 'query'")
    if table is not None:
        schema, _, tname = str(table).rpartition(".")
        if (
            not schema
            or not _IDENT.match(tname)
            or not (
                _IDENT.match(schema)
                or (_FIELD.fullmatch(schema) and _PLACEHOLDER.match(schema[1:-1]))
            )
        ):
            raise DeclarationError(
                f"{where}: 'table' must be '{{legacy.ratinfo}}.mass' or 'schema.table', got {table!r}"
            )
    if query is not None:
        _check_placeholders(query, where)
        if "{batch}" in query:
            raise DeclarationError(f"{where}: the batch query cannot use {{batch}}")
    key_columns = raw.get("key_columns", ())
    if isinstance(key_columns, str):
        key_columns = (key_columns,)
    connection = raw.get("connection", "database")
    if connection not in CONNECTIONS:
        raise DeclarationError(f"{where}: connection must be one of {CONNECTIONS}")
    expectations = raw.get("expectations")
    if not isinstance(expectations, Sequence) or isinstance(expectations, str) or not expectations:
        raise DeclarationError(f"{where}: 'expectations' must be a non-empty list")
    return CheckDeclaration(
        name=name,
        asset=tuple(asset),
        spec=str(raw.get("spec", "")),
        severity=severity,
        blocking=blocking,
        description=str(raw.get("description", "")).strip(),
        expectations=tuple(
            _expectation(e, f"{where}, expectation {i + 1}") for i, e in enumerate(expectations)
        ),
        table=table,
        query=query,
        key_columns=tuple(key_columns),
        connection=connection,
        source=source,
        tags=dict(raw.get("tags", {})),
    )


def declarations_from_dicts(
    raws: Iterable[Mapping[str, Any]], source: str = ""
) -> list[CheckDeclaration]:
    """Validate many declarations; (asset, name) must be unique."""
    out = [declaration_from_dict(raw, source) for raw in raws]
    _no_duplicates(out)
    return out


def load_declarations(
    paths: Path | str | Iterable[Path | str] | None = None,
) -> list[CheckDeclaration]:
    """Load YAML declaration files (default: every ``resources/expectations/*.yaml``).

    Each file holds ``checks: [ ... ]`` (a list of declaration mappings).
    """
    import yaml

    if paths is None:
        paths = sorted(EXPECTATIONS_DIR.glob("*.yaml")) if EXPECTATIONS_DIR.is_dir() else []
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[CheckDeclaration] = []
    for path in map(Path, paths):
        if path.is_dir():
            out.extend(load_declarations(sorted(path.glob("*.yaml"))))
            continue
        try:
            # libyaml's safe loader when PyYAML has it: the same documents, ~8x faster to read,
            # and the declarations are read on every load of the code location.
            data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as error:
            raise DeclarationError(f"{path.name}: not valid YAML: {error}") from None
        if data is None:
            continue
        if not isinstance(data, Mapping) or not isinstance(data.get("checks"), list):
            raise DeclarationError(f"{path.name}: expected a mapping with a 'checks' list")
        out.extend(declaration_from_dict(raw, path.name) for raw in data["checks"])
    _no_duplicates(out)
    return out


def _no_duplicates(declarations: Sequence[CheckDeclaration]) -> None:
    seen: dict[str, str] = {}
    for d in declarations:
        if d.key in seen:
            raise DeclarationError(
                f"check {d.key!r} is declared twice ({seen[d.key] or '?'} and {d.source or '?'})"
            )
        seen[d.key] = d.source
