"""Which keys differ between two relations on two servers, found server-side (checksum bisection).

Each server computes, for its own relation, per hash bucket of the key: the number of rows and
the ``BIT_XOR`` of a 64-bit checksum of the row's canonical text (key and compared values). Only
these per-bucket digests travel. Buckets whose digests agree hold the same rows (up to a 64-bit
collision); buckets that differ are split again into ``fanout`` sub-buckets (the hash modulo a
larger number), and only the sub-buckets that still differ are looked at, until they are small
enough (``leaf_rows``): then both servers return the keys of those buckets alone, and Python
sorts them into *only on the left*, *only on the right* and *changed* (same key, other values).
This is how checksum-diff tools (pt-table-checksum / pt-table-sync) compare tables across
servers; the traffic is proportional to the number of differing rows, not to the tables.

Both servers must compute identical text for identical values. :func:`canonical_text` builds it
with explicit conversions: every value is cast to text in ``utf8mb4`` (legacy tables are
``latin1``: the same character must give the same bytes), numbers with a fixed scale are rounded
to it and printed as ``DECIMAL`` (``FLOAT``/``DOUBLE`` printing is not canonical), dates and
times as ``CAST(... AS CHAR)`` (ISO text, zero dates included), and NULL as a marker that no
value casts to; values are joined with a separator character that text columns do not hold.

A differing digest only nominates keys: whoever uses a diff decides about each nominated key with
the exact predicate (collations and tolerances), so a text that differs only in case is looked at,
never misjudged. This module knows nothing about checks: plain pymysql connections and SQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SEPARATOR = "CHAR(31 USING utf8mb4)"
NULL_MARK = "CHAR(0 USING utf8mb4)"
FIRST_BUCKETS = 64
FANOUT = 16
LEAF_ROWS = 8
MAX_MODULUS = 1 << 44

_SCALE = re.compile(r"^(?:float|double|decimal|numeric|real)\s*\(\s*\d+\s*,\s*(\d+)\s*\)")
_FLOAT = re.compile(r"^(?:float|double|real)")
_INTEGER = re.compile(r"^(?:(?:tiny|small|medium|big)?int|bool)")
_BLOB = re.compile(r"blob|binary")


def canonical_value(expr: str, kind: str = "") -> str:
    """``expr`` as canonical ``utf8mb4`` text (NULL stays NULL), given its column type ``kind``.

    Fixed-scale numbers are rounded to their scale; other floating-point numbers to 5 decimals
    (a mismatch this creates near a rounding edge only nominates the key for the exact test);
    integers are printed as numbers (``ZEROFILL`` padding dropped).
    """
    kind = kind.lower().strip()
    scale = _SCALE.match(kind)
    if scale:
        digits = int(scale.group(1))
        value = f"CAST(ROUND(({expr}), {digits}) AS DECIMAL(65, {digits}))"
    elif _FLOAT.match(kind):
        value = f"CAST(ROUND(({expr}), 5) AS DECIMAL(65, 5))"
    elif _INTEGER.match(kind):  # a ZEROFILL column prints '001'; its value is 1
        value = f"(({expr}) + 0)"
    elif _BLOB.search(kind):
        value = f"HEX({expr})"
    else:
        value = f"({expr})"
    return f"CAST({value} AS CHAR CHARACTER SET utf8mb4)"


def canonical_text(exprs: Sequence[str]) -> str:
    """One text per row: the canonical values, NULL marked, joined by a separator character."""
    parts = [f"IFNULL({e}, {NULL_MARK})" for e in exprs]
    return f"CONCAT_WS({SEPARATOR}, {', '.join(parts)})"


@dataclass(frozen=True)
class Side:
    """One server's relation: ``FROM``-clause SQL (with any ``WHERE``) and what to compare.

    ``keys``: canonical key expressions (:func:`canonical_value`), equal on both sides for the
    same row; ``values``: canonical compared values (empty: keys only); ``carry``: raw
    expressions returned with each differing key (e.g. the legacy id), not compared.
    """

    conn: Any
    relation: str
    keys: tuple[str, ...]
    values: tuple[str, ...] = ()
    carry: tuple[str, ...] = ()

    def inner(self) -> str:
        key = canonical_text(self.keys)
        full = canonical_text([*self.keys, *self.values]) if self.values else key
        carried = "".join(f", {c} AS _c{i}" for i, c in enumerate(self.carry))
        return (
            f"SELECT CAST(CONV(SUBSTRING(MD5({key}), 1, 15), 16, 10) AS UNSIGNED) AS _b, "
            f"CAST(CONV(SUBSTRING(MD5({full}), 17, 16), 16, 10) AS UNSIGNED) AS _h, "
            f"{key} AS _k{carried} FROM {self.relation}"
        )


@dataclass
class KeyDiff:
    """The outcome: keys (canonical key text) only on the left, only on the right, or changed,
    each with its carried values; and what it cost."""

    left_only: dict[str, tuple] = field(default_factory=dict)
    right_only: dict[str, tuple] = field(default_factory=dict)
    changed: dict[str, tuple] = field(default_factory=dict)
    left_rows: int = 0
    right_rows: int = 0
    queries: int = 0
    keys_fetched: int = 0

    @property
    def nominated(self) -> int:
        return len(self.left_only) + len(self.right_only) + len(self.changed)


def _query(conn, sql: str) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def _digests(side: Side, modulus: int, parents: Sequence[int] | None, parent_modulus: int):
    where = ""
    if parents is not None:
        where = f" WHERE MOD(x._b, {parent_modulus}) IN ({', '.join(map(str, parents))})"
    sql = (
        f"SELECT MOD(x._b, {modulus}) AS bucket, COUNT(*), BIT_XOR(x._h) FROM ({side.inner()}) AS x"
        f"{where} GROUP BY bucket"
    )
    return {int(b): (int(n), int(h)) for b, n, h in _query(side.conn, sql)}


def _keys(side: Side, modulus: int, buckets: Sequence[int]) -> dict[str, tuple[int, tuple]]:
    sql = (
        f"SELECT x._k, x._h{''.join(f', x._c{i}' for i in range(len(side.carry)))} "
        f"FROM ({side.inner()}) AS x WHERE MOD(x._b, {modulus}) IN ({', '.join(map(str, buckets))})"
    )
    return {row[0]: (int(row[1]), tuple(row[2:])) for row in _query(side.conn, sql)}


def diff(
    left: Side,
    right: Side,
    first_buckets: int = FIRST_BUCKETS,
    fanout: int = FANOUT,
    leaf_rows: int = LEAF_ROWS,
) -> KeyDiff:
    """The keys whose rows differ between ``left`` and ``right`` (see the module docstring)."""
    out = KeyDiff()
    modulus, parents, parent_modulus = first_buckets, None, 1
    leaves: list[tuple[int, list[int]]] = []
    while True:
        a = _digests(left, modulus, parents, parent_modulus)
        b = _digests(right, modulus, parents, parent_modulus)
        out.queries += 2
        if parents is None:
            out.left_rows = sum(n for n, _ in a.values())
            out.right_rows = sum(n for n, _ in b.values())
        differing = sorted(k for k in set(a) | set(b) if a.get(k, (0, 0)) != b.get(k, (0, 0)))
        small = [k for k in differing if max(a.get(k, (0, 0))[0], b.get(k, (0, 0))[0]) <= leaf_rows]
        large = [k for k in differing if k not in set(small)]
        if small:
            leaves.append((modulus, small))
        if not large:
            break
        if modulus * fanout > MAX_MODULUS:  # nothing left to split: fetch them as they are
            leaves.append((modulus, large))
            break
        parents, parent_modulus, modulus = large, modulus, modulus * fanout
    for mod, buckets in leaves:
        for start in range(0, len(buckets), 2000):
            chunk = buckets[start : start + 2000]
            ka, kb = _keys(left, mod, chunk), _keys(right, mod, chunk)
            out.queries += 2
            out.keys_fetched += len(ka) + len(kb)
            for key, (h, carry) in ka.items():
                if key not in kb:
                    out.left_only[key] = carry
                elif kb[key][0] != h:
                    out.changed[key] = carry
            for key, (_, carry) in kb.items():
                if key not in ka:
                    out.right_only[key] = carry
    return out


__all__ = ["KeyDiff", "Side", "canonical_text", "canonical_value", "diff"]
