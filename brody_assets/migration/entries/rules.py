"""SQL building blocks of the spec's global rules (§1.3), shared by the registry entries.

Every helper returns SQL text over the legacy row alias ``l`` (or the expression given). The
predicates are written so that they never raise a warning under the engine's strict sql_mode
(strings are tested with REGEXP before any cast), and never evaluate to NULL where they are
used as reject rules (the engine wraps each rule in ``IS TRUE``).
"""

from __future__ import annotations

from brody_assets.migration.registry import Reject

# Positions 1..64 for splitting a comma list (a literal table: no schema or engine needed).
NUMBERS = "(" + " UNION ALL ".join(f"SELECT {i} AS n" for i in range(1, 65)) + ")"


def q(text: str) -> str:
    """SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def netid(email: str) -> str:
    """netID from an email: the text before the first '@' (the whole string without '@')."""
    return f"SUBSTRING_INDEX({email}, '@', 1)"


def invalid_date(col: str) -> str:
    """True for zero and partial dates (0000-00-00, 2017-05-00); NULL stays false."""
    return f"({col} IS NOT NULL AND (MONTH({col}) = 0 OR DAYOFMONTH({col}) = 0))"


def zero_to_null(col: str) -> str:
    """The value, or NULL when it is a zero / partial date or datetime (spec §2.6, §2.11)."""
    return f"IF({invalid_date(col)}, NULL, {col})"


def text_of(expr: str) -> str:
    """A value as text for a ledger detail ('NULL' for NULL)."""
    return f"IFNULL(QUOTE({expr}), 'NULL')"


def zero_date_rule(col: str, problem: int = 15) -> Reject:
    return Reject("zero_date", invalid_date(f"l.`{col}`"), f"CONCAT('{col} ', CAST(l.`{col}` AS CHAR))", problem)


def null_rule(col: str, problem: int | None = None, why: str = "") -> Reject:
    detail = f"'{col} is NULL{(': ' + why) if why else ''}'"
    return Reject("missing_value", f"l.`{col}` IS NULL", detail.replace("''", "'"), problem)


def too_long_rule(col: str, width: int, target: str, problem: int = 23) -> Reject:
    return Reject(
        "too_wide",
        f"CHAR_LENGTH(l.`{col}`) > {width}",
        f"CONCAT('{col} has ', CHAR_LENGTH(l.`{col}`), ' characters; {target} holds {width}')",
        problem,
    )


def range_rule(col: str, low: int | float, high: int | float, target: str, problem: int = 23) -> Reject:
    return Reject(
        "too_wide",
        f"(l.`{col}` < {low} OR l.`{col}` > {high})",
        f"CONCAT('{col} = ', l.`{col}`, ' does not fit {target} ({low}..{high})')",
        problem,
    )


# --- rig number from a hostname (§1.3): strip R/i/g at both ends, then an integer -----------
_INT_TEXT = r"'^[[:space:]]*[+-]?[0-9]+[[:space:]]*$'"
_DECIMAL_TEXT = r"'^[[:space:]]*[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?[[:space:]]*$'"


def rig_strip(host: str) -> str:
    """``host`` with every leading/trailing R, i, g removed (case-sensitive, as Python's strip)."""
    return f"REGEXP_REPLACE(CAST({host} AS BINARY), '^[Rig]+|[Rig]+$', '')"


def rig_parses(host: str) -> str:
    return f"({host} IS NOT NULL AND {rig_strip(host)} REGEXP {_INT_TEXT})"


def rig_number(host: str) -> str:
    """The rig number (only meaningful where :func:`rig_parses` is true)."""
    return f"CAST(TRIM({rig_strip(host)}) AS SIGNED)"


def int_parses(text: str) -> str:
    return f"({text} IS NOT NULL AND {text} REGEXP {_INT_TEXT})"


def decimal_parses(text: str) -> str:
    return f"({text} IS NOT NULL AND {text} REGEXP {_DECIMAL_TEXT})"


def has_rig_text(host: str) -> str:
    """Python's ``'Rig' in hostname`` (case-sensitive)."""
    return f"(LOCATE(_binary'Rig', CAST({host} AS BINARY)) > 0)"


# --- contact lookups (§1.3) -----------------------------------------------------------------
def by_experimenter(alias: str = "ce", column: str = "l.`experimenter`") -> str:
    """LEFT JOIN of legacy contacts grouped by experimenter: n matches, the netID of the match."""
    return (
        f"LEFT JOIN (SELECT c.experimenter, COUNT(*) AS n, MIN({netid('c.email')}) AS netid, "
        f"SUM(c.email IS NULL) AS no_email FROM {{L:ratinfo.contacts}} c GROUP BY c.experimenter) "
        f"AS {alias} ON {alias}.experimenter = {column}"
    )


def by_initials(alias: str = "ci", column: str = "l.`tech`") -> str:
    """LEFT JOIN of legacy contacts grouped by initials (NULL initials match nothing)."""
    return (
        f"LEFT JOIN (SELECT c.initials, COUNT(*) AS n, MIN({netid('c.email')}) AS netid, "
        f"SUM(c.email IS NULL) AS no_email FROM {{L:ratinfo.contacts}} c WHERE c.initials IS NOT NULL "
        f"GROUP BY c.initials) AS {alias} ON {alias}.initials = {column}"
    )


def unique_netid(alias: str) -> str:
    """netID when exactly one contact matched and it has an email, else NULL."""
    return f"IF({alias}.n = 1 AND {alias}.no_email = 0, {alias}.netid, NULL)"


def contact_piece(column: str = "r.contact", position: str = "n.n") -> str:
    """The ``position``-th comma-separated piece of a contact list, trimmed of white space."""
    piece = f"SUBSTRING_INDEX(SUBSTRING_INDEX({column}, ',', {position}), ',', -1)"
    return f"REGEXP_REPLACE({piece}, '^[[:space:]]+|[[:space:]]+$', '')"


def split_contacts(table: str, id_col: str, extra: str) -> str:
    """One row per comma-separated, trimmed piece of ``contact``.

    Blank lists give no rows, and neither do empty pieces: a trailing, leading or doubled comma
    (``'istone,kerlich,'``) names no contact (issue 13: they became contacts named '').
    """
    piece = contact_piece()
    return (
        f"(SELECT DISTINCT r.`{id_col}`, {extra}, {piece} AS contact "
        f"FROM {{L:{table}}} r JOIN {NUMBERS} n "
        f"ON n.n <= 1 + CHAR_LENGTH(r.contact) - CHAR_LENGTH(REPLACE(r.contact, ',', '')) "
        f"WHERE r.contact REGEXP '[^[:space:]]' AND {piece} <> '') AS l"
    )


def dj_string_blob(expr: str) -> str:
    """DataJoint's Python-native blob of a string: 'dj0\\0', type 5, uint64 LE length, UTF-8."""
    text = f"CONVERT({expr} USING utf8mb4)"
    length = f"REVERSE(UNHEX(LPAD(HEX(OCTET_LENGTH({text})), 16, '0')))"
    return f"IF({expr} IS NULL, NULL, CONCAT(UNHEX('646A300005'), {length}, CAST({text} AS BINARY)))"
