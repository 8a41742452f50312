"""Set-based copy of one batch: legacy -> shadow and shadow -> new, each one transaction.

Shadow stage (per batch): drop the shadow rows of ledgered keys that are not migrated yet (so
a row fixed in legacy is transformed again), ``INSERT ... SELECT`` the rows no reject rule
matches and the shadow lacks, and ledger the rejected ones (first matching rule) with
``INSERT ... SELECT ... ON DUPLICATE KEY UPDATE``.

New stage (per batch): ``INSERT ... SELECT`` of shadow rows absent from the new table whose
foreign-key parents exist and (natural keys) whose new key is free and that win their key;
then ledger every shadow row of the batch still absent (``missing_parent`` naming the parent,
or ``duplicate_new_key`` naming the holder); then drop ledger rows of the batch that are now
migrated or whose legacy row is gone; then count the invariant.

A statement error that is not retriable (a value no rule foresaw) makes :func:`run_bisected`
split the batch until the failing rows are isolated; those are ledgered as ``insert_error``
with the server's message, and the rest migrates.
"""

from __future__ import annotations

from collections.abc import Callable

import pymysql

from brody_assets.migration.registry import TableEntry

from .context import EngineContext, Invariant
from .ledger import COLUMNS, UPSERT_TAIL
from .scope import Batch, Scope


def _l_id(e: TableEntry) -> str:
    return f"l.`{e.id_column}`"


def _reject_parts(ctx: EngineContext, e: TableEntry) -> tuple[str, str, str, str]:
    """(any-rule predicate, reason CASE, detail CASE, problem CASE)."""
    rules = [(r, ctx.render(r.predicate, e), ctx.render(r.detail, e)) for r in e.rejects]
    if not rules:
        return "FALSE", "NULL", "NULL", "NULL"
    anyp = " OR ".join(f"(({p}) IS TRUE)" for _, p, _ in rules)
    reason = "CASE " + " ".join(f"WHEN ({p}) IS TRUE THEN '{r.reason}'" for r, p, _ in rules) + " END"
    detail = "CASE " + " ".join(f"WHEN ({p}) IS TRUE THEN {d}" for _, p, d in rules) + " END"
    problem = "CASE " + " ".join(
        f"WHEN ({p}) IS TRUE THEN {r.problem if r.problem is not None else 'NULL'}" for r, p, _ in rules
    ) + " END"
    return anyp, reason, detail, problem


def _in_shadow(ctx: EngineContext, e: TableEntry) -> str:
    cond = " AND ".join(f"sx.`{sc}` = {expr}" for sc, _, expr in e.match)
    return f"EXISTS (SELECT 1 FROM {ctx.names.shadow(e)} sx WHERE {cond})"


def migrated_sql(ctx: EngineContext, e: TableEntry, alias: str = "l") -> str:
    """SQL true when the legacy row (alias ``l``) or shadow row (alias ``s``) is in the new table."""
    if alias == "l":
        pairs = [(nc, expr) for _, nc, expr in e.match]
    else:
        pairs = [(nc, f"s.`{sc}`") for sc, nc, _ in e.match]
    if not e.natural_key:
        cond = " AND ".join(f"nx.`{nc}` = {v}" for nc, v in pairs)
        return f"EXISTS (SELECT 1 FROM {ctx.names.new(e)} nx WHERE {cond})"
    pk = ctx.new_pk(e)
    if alias == "s":  # the shadow row carries the new key: an index lookup
        cond = " AND ".join([f"nx.`{c}` = s.`{c}`" for c in pk] + [f"nx.`{nc}` = s.`{sc}`" for sc, nc, _ in e.match])
        return f"EXISTS (SELECT 1 FROM {ctx.names.new(e)} nx WHERE {cond})"
    join = " AND ".join([f"nx.`{c}` = sy.`{c}`" for c in pk] + [f"nx.`{nc}` = sy.`{sc}`" for sc, nc, _ in e.match])
    where = " AND ".join(f"sy.`{sc}` = {expr}" for sc, _, expr in e.match)
    return f"EXISTS (SELECT 1 FROM {ctx.names.shadow(e)} sy JOIN {ctx.names.new(e)} nx ON {join} WHERE {where})"


def shadow_batch(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch) -> int:
    """Transform one batch into the shadow (one transaction); returns rows inserted."""
    pred = batch.predicate(_l_id(e), scope)
    src = ctx.render(e.source, e) + " " + ctx.render(" ".join(e.joins), e)
    anyp, reason, detail, problem = _reject_parts(ctx, e)
    cols = list(e.columns)
    exprs = ", ".join(ctx.render(e.columns[c], e) for c in cols)
    in_shadow = _in_shadow(ctx, e)
    shadow_src = ctx.render(e.shadow_source, e)
    s_pred = batch.predicate(ctx.render(e.shadow_id, e), scope, window=False)
    ledger = ctx.names.ledger
    refresh = (
        f"DELETE s FROM {shadow_src} WHERE {s_pred} AND EXISTS (SELECT 1 FROM {ledger} q WHERE "
        f"q.table_name = %s AND q.key_int = {ctx.render(e.shadow_id, e)} AND q.legacy_key = "
        f"{ctx.render(e.shadow_key_json, e)}) AND NOT {migrated_sql(ctx, e, 's')}"
    )
    insert = (
        f"INSERT INTO {ctx.names.shadow(e)} ({', '.join(f'`{c}`' for c in cols)}) SELECT {exprs} FROM {src} "
        f"WHERE {pred} AND NOT ({anyp}) AND NOT {in_shadow}"
    )
    rejected = (
        f"INSERT INTO {ledger} {COLUMNS} SELECT %s, {e.key_json}, {_l_id(e)}, 'shadow', {reason}, "
        f"LEFT({detail}, 1000), {problem}, %s, NOW(6), NOW(6) FROM {src} "
        f"WHERE {pred} AND ({anyp}) AND NOT {in_shadow}{UPSERT_TAIL}"
    )

    def work(cur) -> int:
        refreshed = cur.execute(refresh, (e.name,))
        inserted = cur.execute(insert)
        if e.rejects:
            cur.execute(rejected, (e.name, ctx.run_id))
        return inserted - refreshed  # rows new to the shadow (re-transformed ledger rows excluded)

    return ctx.db.transaction(work)


def _parents_ok(ctx: EngineContext, e: TableEntry) -> list[tuple[str, str]]:
    """Per parent: (SQL true when the parent exists, SQL detail when it does not)."""
    from brody_assets.migration.registry import entry as entry_named

    out = []
    for p in e.parents:
        parent = entry_named(p.entry)
        cond = " AND ".join(f"px.`{pc}` = s.`{cc}`" for cc, pc in p.columns)
        ok = f"EXISTS (SELECT 1 FROM {ctx.names.new(parent)} px WHERE {cond})"
        values = ", ".join(f"'{pc}=', IFNULL(QUOTE(s.`{cc}`), 'NULL')" for cc, pc in p.columns)
        why = (
            f"(SELECT CONCAT(' (parent quarantined: ', q2.reason, ')') FROM {ctx.names.ledger} q2 "
            f"WHERE q2.table_name = '{parent.name}' AND q2.key_int = {ctx.render(p.legacy_id, e)} LIMIT 1)"
        )
        detail = f"CONCAT('{parent.name} ', {values}, ' is not migrated', IFNULL({why}, ''))"
        out.append((ok, detail))
    return out


def new_batch(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch) -> int:
    """Copy one batch of shadow rows into the new table (one transaction); returns rows inserted."""
    cols = ctx.new_columns(e)
    shadow_src = ctx.render(e.shadow_source, e)
    s_pred = batch.predicate(ctx.render(e.shadow_id, e), scope, window=False)
    parents = _parents_ok(ctx, e)
    parents_ok = " AND ".join(ok for ok, _ in parents) or "TRUE"
    present = migrated_sql(ctx, e, "s")
    win_join, eligible, holder = "", "TRUE", "NULL"
    if e.natural_key:
        pk = ctx.new_pk(e)
        key_col = e.match[0][0]
        agg = "MIN" if ctx.options.duplicate_key_winner == "lowest_legacy_id" else "MAX"
        pk_list = ", ".join(f"`{c}`" for c in pk)
        win_join = (
            f"LEFT JOIN (SELECT {pk_list}, {agg}(`{key_col}`) AS win FROM {ctx.names.shadow(e)} "
            f"GROUP BY {pk_list} HAVING COUNT(*) > 1) d ON " + " AND ".join(f"d.`{c}` = s.`{c}`" for c in pk)
        )
        taken = " AND ".join(f"nt.`{c}` = s.`{c}`" for c in pk)
        eligible = (f"NOT EXISTS (SELECT 1 FROM {ctx.names.new(e)} nt WHERE {taken}) "
                    f"AND (d.win IS NULL OR d.win = s.`{key_col}`)")
        holder = (f"CONCAT('new key (', CONCAT_WS(', ', {', '.join(f's.`{c}`' for c in pk)}), ') is held by legacy id ', "
                  f"IFNULL((SELECT nt.`{e.match[0][1]}` FROM {ctx.names.new(e)} nt WHERE {taken} LIMIT 1), d.win))")
    insert = (
        f"INSERT INTO {ctx.names.new(e)} ({', '.join(f'`{c}`' for c in cols)}) "
        f"SELECT {', '.join(f's.`{c}`' for c in cols)} FROM {shadow_src} {win_join} "
        f"WHERE {s_pred} AND NOT {present} AND {parents_ok} AND {eligible}"
    )
    missing_detail = "CONCAT_WS('; ', " + ", ".join(f"IF({ok}, NULL, {d})" for ok, d in parents) + ")" if parents else "NULL"
    reason = f"IF({parents_ok}, 'duplicate_new_key', 'missing_parent')"
    detail = f"IF({parents_ok}, {holder}, {missing_detail})"
    leftover = (
        f"INSERT INTO {ctx.names.ledger} {COLUMNS} SELECT %s, {ctx.render(e.shadow_key_json, e)}, "
        f"{ctx.render(e.shadow_id, e)}, 'new', {reason}, LEFT(IFNULL({detail}, 'not migrated'), 1000), NULL, %s, "
        f"NOW(6), NOW(6) FROM {shadow_src} {win_join} WHERE {s_pred} AND NOT {present}{UPSERT_TAIL}"
    )

    def work(cur) -> int:
        inserted = cur.execute(insert)
        cur.execute(leftover, (e.name, ctx.run_id))
        return inserted

    return ctx.db.transaction(work)


def _migrated_join(ctx: EngineContext, e: TableEntry) -> tuple[str, str] | None:
    """``(LEFT JOIN clause, column)``: the join finds a legacy row's (alias ``l``) new row, and the
    column is non-NULL when it did. ``None`` unless the keys guarantee at most one match per
    legacy row (then the counts of a join equal those of ``EXISTS``)."""
    pk = ctx.new_pk(e)
    if not e.natural_key:
        if not pk or not set(pk) <= {nc for _, nc, _ in e.match}:
            return None
        cond = " AND ".join(f"nx.`{nc}` = {expr}" for _, nc, expr in e.match)
        return f"LEFT JOIN {ctx.names.new(e)} nx ON {cond}", f"nx.`{pk[0]}`"
    shadow_pk = ctx.shadow_pk(e)
    if not shadow_pk or not set(shadow_pk) <= {sc for sc, _, _ in e.match}:
        return None
    join = " AND ".join([f"nx.`{c}` = sy.`{c}`" for c in pk] + [f"nx.`{nc}` = sy.`{sc}`" for sc, nc, _ in e.match])
    where = " AND ".join(f"sy.`{sc}` = {expr}" for sc, _, expr in e.match)
    return f"LEFT JOIN ({ctx.names.shadow(e)} sy JOIN {ctx.names.new(e)} nx ON {join}) ON {where}", f"nx.`{pk[0]}`"


def cleanup_and_count(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch) -> Invariant:
    """Drop ledger rows of the batch that migrated or left legacy; count the invariant.

    The count joins each legacy row to its new row and its ledger row (each at most one, by
    their keys; about 2.5x faster than correlated ``EXISTS`` on the lab's tables), or uses
    ``EXISTS`` where the keys do not guarantee that.
    """
    src = ctx.render(e.source, e)
    pred = batch.predicate(_l_id(e), scope)
    q_pred = batch.predicate("q.key_int", scope, window=False)
    migrated = migrated_sql(ctx, e, "l")
    ledger = ctx.names.ledger
    if scope.ledgered_in(batch):  # rows ledgered by this stage itself are neither migrated nor gone
        ctx.db.execute(
            f"DELETE q FROM {ledger} q WHERE q.table_name = %s AND {q_pred} AND NOT EXISTS (SELECT 1 FROM {src} "
            f"WHERE {_l_id(e)} = q.key_int AND {e.key_json} = q.legacy_key AND NOT {migrated})",
            (e.name,),
        )
    joined = _migrated_join(ctx, e)
    if joined is None:
        sql = (f"SELECT COUNT(*), IFNULL(SUM({migrated}), 0), IFNULL(SUM(EXISTS (SELECT 1 FROM {ledger} q "
               f"WHERE q.table_name = %s AND q.key_int = {_l_id(e)} AND q.legacy_key = {e.key_json})), 0) "
               f"FROM {src} WHERE {pred}")
    else:  # the ledger's primary key is (table_name, legacy_key): at most one row per legacy row
        join, column = joined
        sql = (f"SELECT COUNT(*), COUNT({column}), COUNT(q.key_int) FROM {src} {join} LEFT JOIN {ledger} q "
               f"ON q.table_name = %s AND q.key_int = {_l_id(e)} AND q.legacy_key = {e.key_json} WHERE {pred}")
    n, m, q = ctx.db.query(sql, (e.name,))[0]
    return Invariant(int(n), int(m), int(q))


def batch_ids(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch) -> list[int]:
    src = ctx.render(e.source, e)
    rows = ctx.db.query(
        f"SELECT DISTINCT {_l_id(e)} FROM {src} WHERE {batch.predicate(_l_id(e), scope)} ORDER BY 1"
    )
    return [int(r[0]) for r in rows]


def run_bisected(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch, stage: str,
                 step: Callable[[EngineContext, TableEntry, Scope, Batch], int]) -> int:
    """Run ``step`` on the batch; on a non-retriable error, split the batch until the failing
    legacy ids are isolated, ledger them as ``insert_error`` and migrate the rest."""
    try:
        return step(ctx, e, scope, batch)
    except pymysql.MySQLError as error:
        message = f"{stage} stage: server error {error.args[0] if error.args else ''}: {error.args[-1] if error.args else error}"
        ids = batch_ids(ctx, e, scope, batch)
        if len(ids) <= 1:
            if ids:
                _ledger_error(ctx, e, scope, batch, stage, message)
            return 0
        half = len(ids) // 2
        total = 0
        for part in (ids[:half], ids[half:]):
            sub = Batch(batch.part, part[0], part[-1], tuple(part))
            total += run_bisected(ctx, e, scope, sub, stage, step)
        return total


def _ledger_error(ctx: EngineContext, e: TableEntry, scope: Scope, batch: Batch, stage: str, message: str) -> None:
    src = ctx.render(e.source, e)
    ctx.db.execute(
        f"INSERT INTO {ctx.names.ledger} {COLUMNS} SELECT %s, {e.key_json}, {_l_id(e)}, %s, 'insert_error', "
        f"LEFT(%s, 1000), NULL, %s, NOW(6), NOW(6) FROM {src} WHERE {batch.predicate(_l_id(e), scope)}{UPSERT_TAIL}",
        (e.name, stage, message, ctx.run_id),
    )
