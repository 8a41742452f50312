"""The spec §4 checks and the generic checks on real migrated databases.

Two `small` demo databases are built and migrated by the engine: one with the generator's
injected defects, one without (``defects=False``). On the first, every manifest row is flagged by
each check the manifest names for it (100% recall, the row's key among the failing rows whenever
the check lists keys); on the second, every check passes (no false failures).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest

from brody_assets.db import bootstrap
from brody_assets.demo.legacy import build_legacy_database
from brody_assets.integrity.checks import all_declarations
from brody_assets.integrity.declarations import load_declarations
from brody_assets.integrity.generic import GENERIC_CHECKS
from brody_assets.integrity.registry_sql import PLACEHOLDER, table_name
from brody_assets.integrity.runner import run_checks
from brody_assets.migration.engine import migrate
from brody_assets.migration.registry import MigrationOptions, entries
from brody_assets_tests.conftest import make_settings, write_config
from brody_assets_tests.migration.engine_support import run_process

ALL_SAMPLES = 100_000
SPEC_NUMBERS = {str(n) for n in range(1, 59)} | {f"I{n}" for n in range(1, 24)}


# -- declarations (no database) ----------------------------------------------------------------


def test_all_81_spec_checks_are_declared_under_their_spec_names():
    declarations = all_declarations()
    spec = [d for d in declarations if d.spec != "generic"]
    assert {d.spec for d in spec} == SPEC_NUMBERS
    names_by_number = {}
    for d in spec:
        names_by_number.setdefault(d.spec, set()).add(d.name)
    assert all(len(names) == 1 for names in names_by_number.values()), names_by_number
    assert len({d.key for d in declarations}) == len(declarations)
    generic = Counter(d.name for d in declarations if d.spec == "generic")
    assert set(generic) == set(GENERIC_CHECKS)
    assert generic["pk_unique"] == generic["keys_not_null"] == len(entries())


def test_registry_view_matches_the_engine():
    from brody_assets.migration.engine.names import PLACEHOLDER as ENGINE_PLACEHOLDER
    from brody_assets.migration.schemas.naming import TABLE_NAMES

    assert PLACEHOLDER.pattern == ENGINE_PLACEHOLDER.pattern
    for e in entries():
        for layer in ("new", "shadow"):
            if (layer, e.family, e.new_class) in TABLE_NAMES:
                assert table_name(layer, e) == TABLE_NAMES[(layer, e.family, e.new_class)]


def test_severity_and_blocking_follow_the_rule():
    for d in load_declarations():
        severities = {x.severity or d.severity for x in d.expectations}
        if d.blocking:  # blocking only where an ERROR (data lost, broken keys) can come out
            assert "ERROR" in severities, d.key
        if d.asset[0] == "legacy":  # lab-practice conflicts on legacy tables warn, never block
            assert severities == {"WARN"} and not d.blocking, d.key


# -- real databases ----------------------------------------------------------------------------


def _build(server, prefix, tmp, defects: bool):
    conn = server.admin_connect()
    try:
        manifest = build_legacy_database(
            conn, prefix, "small", seed=7, end_date=dt.date.today(), defects=defects
        )
        settings = make_settings(server, prefix)
        bootstrap(conn, settings)
    finally:
        conn.close()
    run_process(write_config(settings, tmp / f"{prefix}conf.json"), "--declare")
    migrate(settings, MigrationOptions())
    return settings, manifest


@pytest.fixture(scope="module")
def checked(mariadb_server, prefix_factory, tmp_path_factory):
    """Both databases built, migrated and checked once (all checks, every failing row)."""
    tmp = tmp_path_factory.mktemp("spec_checks")
    declarations = all_declarations()
    out = {}
    for label, defects in (("defects", True), ("clean", False)):
        settings, manifest = _build(mariadb_server, prefix_factory(), tmp, defects)
        outcomes = run_checks(settings, declarations, sample_rows=ALL_SAMPLES)
        out[label] = {"settings": settings, "manifest": manifest, "outcomes": outcomes}
    out["declarations"] = declarations
    return out


def _asset_tables(asset: tuple[str, ...]) -> set[str]:
    """The legacy tables an asset concerns (``legacy/ratinfo/mass`` or a migrated entry's)."""
    if asset[0] == "legacy":
        return {f"{asset[1]}.{asset[2]}"}
    return {e.legacy for e in entries() if (e.family, e.table) == tuple(asset[1:])}


def _flags(outcome, key: dict) -> bool | None:
    """Whether the key is among the failing rows (None when the check lists no such key)."""
    listed = False
    for part in outcome.expectations:
        for row in part.rows:
            if all(k in row for k in key):
                listed = True
                if all(str(row[k]) == str(v) for k, v in key.items()):
                    return True
    return False if listed else None


def test_every_injected_defect_is_flagged_by_its_checks(checked):
    outcomes = checked["defects"]["outcomes"]
    by_name: dict[str, list] = {}
    for o in outcomes:
        by_name.setdefault(o.name, []).append(o)
    missed, unknown = [], set()
    defects = checked["defects"]["manifest"]["defects"]
    assert defects
    for d in defects:
        for name in d["checks"]:
            candidates = by_name.get(name)
            if not candidates:
                unknown.add(name)
                continue
            here = [o for o in candidates if d["table"] in _asset_tables(o.asset)] or candidates
            for o in here:
                if o.passed:
                    missed.append((name, d["table"], d["key"], d["kind"], "passed"))
                elif _flags(o, d["key"]) is False:
                    missed.append((name, d["table"], d["key"], d["kind"], "key not listed"))
    assert not unknown, f"manifest names checks that are not declared: {sorted(unknown)}"
    assert not missed, f"{len(missed)} defect rows not flagged: {missed[:20]}"
    kinds = {d["kind"] for d in defects if d["checks"]}
    assert len(kinds) >= 40  # every injectable kind with a check took part


def test_a_clean_database_passes_every_check(checked):
    clean = checked["clean"]
    assert clean["manifest"]["defects"] == []
    assert len(clean["outcomes"]) == len(checked["declarations"]) > 200
    failed = [
        (o.key, o.unexpected_count, o.error or o.failing_rows[:300])
        for o in clean["outcomes"]
        if not o.passed
    ]
    assert not failed, failed


def test_defect_failures_say_why(checked):
    by_key = {o.key: o for o in checked["defects"]["outcomes"]}
    lost_free = by_key["migrated/action/mass:mass_src_to_shadow"]
    assert not lost_free.passed and lost_free.severity == "WARN"  # quarantined, nothing lost
    reasons = {r["reason"] for p in lost_free.expectations for r in p.rows if "reason" in r}
    assert {"ambiguous_contact", "unresolved_contact", "zero_date"} <= reasons
    assert "rows_with_reason" in lost_free.failing_rows
    assert all(o.error is None for o in checked["defects"]["outcomes"]), [
        (o.key, o.error) for o in checked["defects"]["outcomes"] if o.error
    ]


def test_lost_rows_fail_with_error_and_block(checked, mariadb_server):
    """A legacy row removed from the ledger and the shadow is data lost: ERROR, not WARN."""
    settings = checked["defects"]["settings"]
    declarations = [
        d
        for d in checked["declarations"]
        if d.key
        in (
            "migrated/action/mass:mass_src_to_shadow",
            "migrated/action/mass:reconciles_with_legacy",
        )
    ]
    conn = mariadb_server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT key_int FROM `{settings.new_prefix}migration`.`quarantine` "
                "WHERE table_name = 'action.mass' AND stage = 'shadow' ORDER BY key_int LIMIT 1"
            )
            (lost,) = cur.fetchone()
            cur.execute(
                f"DELETE FROM `{settings.new_prefix}migration`.`quarantine` "
                "WHERE table_name = 'action.mass' AND key_int = %s",
                (lost,),
            )
        outcomes = run_checks(settings, declarations)
    finally:
        conn.close()
    assert {o.name for o in outcomes} == {"mass_src_to_shadow", "reconciles_with_legacy"}
    for o in outcomes:
        assert not o.passed and o.severity == "ERROR" and o.blocking, o.key
        assert re.search(rf"\|\s*{lost}\s*\|", o.failing_rows), o.failing_rows


def test_mirror_drift_finds_edited_and_deleted_legacy_rows(checked, mariadb_server):
    settings = checked["clean"]["settings"]
    prefix = settings.legacy_schema_prefix
    drift = [
        d
        for d in checked["declarations"]
        if d.name == "mirror_drift" and d.asset[-1] in ("mass", "water")
    ]
    conn = mariadb_server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT MIN(weighing) FROM `{prefix}ratinfo`.`mass`")
            (edited,) = cur.fetchone()
            cur.execute(
                f"UPDATE `{prefix}ratinfo`.`mass` SET mass = mass + 3 WHERE weighing = %s",
                (edited,),
            )
            cur.execute(f"SELECT MAX(watering) FROM `{prefix}ratinfo`.`water`")
            (deleted,) = cur.fetchone()
            cur.execute(f"DELETE FROM `{prefix}ratinfo`.`water` WHERE watering = %s", (deleted,))
        outcomes = {o.asset[-1]: o for o in run_checks(settings, drift)}
    finally:
        conn.close()
    mass, water = outcomes["mass"], outcomes["water"]
    assert not mass.passed and mass.severity == "WARN"
    assert [r["changed_columns"] for r in mass.expectations[0].rows] == ["mass"]
    assert mass.expectations[0].rows[0]["weighing"] == edited
    assert not water.passed and water.expectations[1].rows == [{"water_id": deleted}]


def test_a_spec_check_whose_sql_errors_fails_with_the_error(checked):
    settings = checked["clean"]["settings"]
    broken = make_settings_missing(settings)
    [declaration] = [
        d for d in checked["declarations"] if d.key == "migrated/subject/rats:rats_src_to_shadow"
    ]
    [outcome] = run_checks(broken, [declaration])
    # the pipeline account's grants name its schemas exactly, so the server refuses the schemas
    # that are not its own before it could say they do not exist: the check carries that error
    assert not outcome.passed and outcome.error
    assert "(1142, \"SELECT command denied" in outcome.error and f"{broken.shadow_prefix}" in outcome.error


def make_settings_missing(settings):
    """Legacy as is (the batch exists), shadow/new/ledger schemas that do not: the SQL fails."""
    from dataclasses import replace

    return replace(
        settings,
        new_prefix=settings.new_prefix + "gone_",
        shadow_prefix=settings.shadow_prefix + "gone_",
    )
