"""The Dagster factory over check declarations: specs, severity, blocking, subsetting, the report."""

from __future__ import annotations

import re

import dagster as dg
import pytest

from brody_assets.db import bootstrap
from brody_assets.integrity.checks import (
    CHECKS_JOB,
    REPORT_KEY,
    build_integrity_checks,
    by_family,
    integrity_definitions,
)
from brody_assets.integrity.declarations import declarations_from_dicts
from brody_assets.integrity.report import render_html, summarize, write_html
from brody_assets.resources import DataJointResource, LegacyDatabaseResource
from brody_assets_tests.conftest import make_settings, write_config

MASS = dg.AssetKey(["legacy", "ratinfo", "mass"])


@dg.asset(key=MASS)
def mass():
    return None


@dg.asset(deps=[mass])
def downstream():
    return 1


def declarations(blocking=True, severity="ERROR"):
    base = {
        "asset": "legacy/ratinfo/mass",
        "table": "{legacy.ratinfo}.mass",
        "key_columns": ["weighing"],
    }
    return declarations_from_dicts(
        [
            {
                **base,
                "name": "mass_tech_known",
                "spec": "54",
                "severity": severity,
                "blocking": blocking,
                "description": "Every weighing's tech is a known contact.",
                "expectations": [
                    {
                        "kind": "unexpected_rows",
                        "sql": "SELECT m.weighing, m.tech FROM {batch} AS m WHERE m.tech = 'XX'",
                    }
                ],
            },
            {
                **base,
                "name": "mass_pk_unique",
                "severity": "WARN",
                "expectations": [{"kind": "unique", "columns": ["weighing"]}],
            },
            {
                **base,
                "name": "mass_tech_present",
                "severity": "WARN",
                "expectations": [{"kind": "not_null", "column": "tech"}],
            },
            {
                **base,
                "name": "rats_only_later",
                "asset": "migrated/subject/rats",
                "expectations": [{"kind": "not_null", "column": "tech"}],
            },
        ]
    )


@pytest.fixture
def config(mariadb_server, admin_conn, unique_prefix, tmp_path):
    settings = make_settings(mariadb_server, unique_prefix)
    bootstrap(admin_conn, settings)
    with admin_conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{settings.legacy_schema('ratinfo')}`.mass "
            "(weighing INT PRIMARY KEY, tech VARCHAR(4))"
        )
        cur.execute(
            f"INSERT INTO `{settings.legacy_schema('ratinfo')}`.mass VALUES (1,'JH'),(2,'XX'),(3,'XX')"
        )
    path = write_config(settings, tmp_path / "dj_local_conf.json")
    return settings, str(path)


def resources(config_file):
    return {"datajoint": DataJointResource(config_file=config_file)}


PK_ONLY = dg.define_asset_job(
    "pk_only", selection=dg.AssetSelection.checks(dg.AssetCheckKey(MASS, "mass_pk_unique"))
)


def defs_for(config_file, decls):
    integrity = integrity_definitions(decls, existing_asset_keys=[mass.key, downstream.key])
    return dg.Definitions.merge(
        integrity,
        dg.Definitions(
            assets=[mass, downstream],
            jobs=[PK_ONLY],
            resources=resources(config_file),
            executor=dg.in_process_executor,
        ),
    )


def test_factory_builds_one_multi_check_per_asset_with_spec_names():
    checks = build_integrity_checks(declarations(), existing_asset_keys=[MASS])
    assert len(checks) == 1
    [check] = checks
    keys = {k.name for k in check.check_keys}
    assert keys == {"mass_tech_known", "mass_pk_unique", "mass_tech_present"}  # rats: asset absent
    specs = {s.name: s for s in check.check_specs}
    assert specs["mass_tech_known"].blocking and not specs["mass_pk_unique"].blocking
    assert specs["mass_tech_known"].description.startswith("[54] Every weighing's tech")
    assert check.can_subset
    # Without the asset-key filter every declaration gets a spec; by_family groups schemas.
    assert len(build_integrity_checks(declarations())) == 2
    assert len(build_integrity_checks(declarations(), group_by=by_family)) == 2


def test_check_results_carry_severity_and_metadata(config):
    _, config_file = config
    [check] = build_integrity_checks(declarations(), existing_asset_keys=[MASS])
    context = dg.build_asset_check_context(resources=resources(config_file))
    results = {r.check_name: r for r in check(context)}
    known = results["mass_tech_known"]
    assert (known.passed, known.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert known.metadata["unexpected_count"].value == 2
    assert known.metadata["unexpected_percent"].value == pytest.approx(66.6667)
    assert "| 2 | XX |" in known.metadata["failing_rows"].value
    assert known.metadata["error"].value == "none"
    assert "WHERE m.tech = 'XX'" in known.metadata["sql"].value
    present = results["mass_tech_present"]
    assert (present.passed, present.severity) == (True, dg.AssetCheckSeverity.WARN)


def test_checks_job_runs_a_subset_without_materializing(config):
    _, config_file = config
    defs = defs_for(config_file, declarations(blocking=False))
    job = defs.resolve_job_def(CHECKS_JOB)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance)
        assert result.success
        assert not result.get_asset_materialization_events()
        assert {e.check_name for e in result.get_asset_check_evaluations()} == {
            "mass_tech_known",
            "mass_pk_unique",
            "mass_tech_present",
        }
        # can_subset: a selection of one check runs that check only.
        subset = defs.resolve_job_def("pk_only").execute_in_process(instance=instance)
        assert [e.check_name for e in subset.get_asset_check_evaluations()] == ["mass_pk_unique"]


def test_blocking_error_fails_the_run_and_stops_downstream(config):
    _, config_file = config
    checks = build_integrity_checks(declarations(blocking=True), existing_asset_keys=[MASS])
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [mass, downstream, *checks],
            resources=resources(config_file),
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert materialized == {MASS}  # downstream never ran


def test_blocking_warn_does_not_block(config):
    _, config_file = config
    checks = build_integrity_checks(
        declarations(blocking=True, severity="WARN"), existing_asset_keys=[MASS]
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [mass, downstream, *checks], resources=resources(config_file), instance=instance
        )
        assert result.success
        assert {e.asset_key for e in result.get_asset_materialization_events()} == {
            MASS,
            downstream.key,
        }
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert [(e.check_name, e.severity) for e in failed] == [
            ("mass_tech_known", dg.AssetCheckSeverity.WARN)
        ]


def test_report_says_since_when_a_check_fails_and_writes_offline_html(config, admin_conn):
    settings, config_file = config
    defs = defs_for(config_file, declarations(blocking=False))
    job = defs.resolve_job_def(CHECKS_JOB)
    keys = sorted(defs.resolve_asset_graph().asset_check_keys, key=lambda k: k.name)
    with dg.instance_for_test() as instance:
        first = job.execute_in_process(instance=instance)
        job.execute_in_process(instance=instance)
        rows = {r.name: r for r in summarize(instance, keys)}
        failing = rows["mass_tech_known"]
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(MASS, "mass_tech_known"), limit=10
        )
        first_record = [r for r in records if r.run_id == first.run_id][0]
        assert failing.status == "FAILED" and failing.severity == "ERROR"
        assert failing.failed_runs == 2
        assert failing.failing_since.timestamp() == pytest.approx(first_record.create_timestamp)
        assert failing.unexpected_count == 2
        assert (
            rows["mass_pk_unique"].status == "PASSED"
            and rows["mass_pk_unique"].failing_since is None
        )

        html_text = render_html(list(rows.values()))
        assert not re.search(r"https?://", html_text)
        assert "<link" not in html_text and "<script" not in html_text
        assert "mass_tech_known" in html_text and "<td>XX</td>" in html_text

        # Fixed at the source: the next run passes and the streak is over.
        with admin_conn.cursor() as cur:
            cur.execute(f"UPDATE `{settings.legacy_schema('ratinfo')}`.mass SET tech = 'JH'")
        job.execute_in_process(instance=instance)
        fixed = {r.name: r for r in summarize(instance, keys)}["mass_tech_known"]
        assert fixed.status == "PASSED" and fixed.failing_since is None

        # The report asset writes the page under the instance's storage directory.
        report = dg.materialize(
            [defs.resolve_assets_def(REPORT_KEY)], instance=instance, selection=[REPORT_KEY]
        )
        [event] = report.get_asset_materialization_events()
        path = event.materialization.metadata["html_report"].value
        assert path.startswith(instance.storage_directory())
        assert path.endswith("integrity/integrity_report.html")
        assert event.materialization.metadata["checks"].value == 3


def test_html_of_an_error_has_no_urls(tmp_path):
    from brody_assets.integrity.report import ReportRow

    row = ReportRow(
        asset="legacy/ratinfo/rats",
        name="x",
        status="FAILED",
        severity="ERROR",
        error="(1146, \"Table 'x.rats' doesn't exist\")",
        failing_rows="**x**: error: `boom`",
    )
    path = write_html([row], tmp_path)
    text = path.read_text()
    assert path == tmp_path / "integrity" / "integrity_report.html"
    assert "doesn&#x27;t exist" in text and not re.search(r"https?://", text)


def test_shipped_declarations_attach_to_the_legacy_assets():
    from brody_assets.legacy.assets import LEGACY_SPECS, legacy_definitions

    defs = dg.Definitions.merge(
        legacy_definitions(),
        integrity_definitions(existing_asset_keys=[spec.key for spec in LEGACY_SPECS]),
        dg.Definitions(
            resources={"datajoint": DataJointResource(), "legacy_db": LegacyDatabaseResource()}
        ),
    )
    names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {
        "mass_tech_resolves_to_one_contact",
        "contacts_initials_unique",
        "water_not_null_for_new",
    } <= names
    assert defs.resolve_job_def(CHECKS_JOB) is not None


def _mixed():
    """An accounting check as the YAML declares them: ERROR when rows are lost, WARN when they
    only sit in the quarantine ledger."""
    return declarations_from_dicts([{
        "asset": "legacy/ratinfo/mass", "table": "{legacy.ratinfo}.mass", "key_columns": ["weighing"],
        "name": "mass_accounted", "severity": "ERROR", "blocking": True,
        "description": "Every weighing is migrated or quarantined.",
        "expectations": [
            {"kind": "unexpected_rows", "description": "weighings lost",
             "sql": "SELECT m.weighing FROM {batch} AS m WHERE m.tech = 'ZZ'"},
            {"kind": "unexpected_rows", "severity": "WARN", "description": "weighings quarantined",
             "sql": "SELECT m.weighing FROM {batch} AS m WHERE m.tech = 'XX'"},
        ],
    }])


def test_description_declared_and_result_severity_agree(config):
    """A blocking ERROR check whose WARN part alone fails reads WARN everywhere, and says why."""
    _, config_file = config
    checks = build_integrity_checks(_mixed(), existing_asset_keys=[MASS])
    (spec,) = checks[0].check_specs
    assert spec.description == (
        "Every weighing is migrated or quarantined. Two severities: ERROR when “weighings lost” finds "
        "rows (data lost or a broken key, which downstream tables must not build on; blocks downstream "
        "assets in the run that materializes this asset); WARN when only “weighings quarantined” finds "
        "rows (a lab-practice conflict or rows set aside in the quarantine ledger with a reason: to "
        "review, nothing lost; never blocks)."
    )
    assert spec.metadata["severity"] == "ERROR (blocking) or WARN, by the part that fails"
    with dg.instance_for_test() as instance:
        result = dg.materialize([mass, downstream, *checks], resources=resources(config_file), instance=instance)
        assert result.success  # the WARN part does not block
        (evaluation,) = result.get_asset_check_evaluations()
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.description == (
            "WARN: 2 unexpected (66.6667%); only the WARN part found rows (weighings quarantined): nothing lost"
        )


def test_every_shipped_check_says_why_it_is_error_or_warn():
    from brody_assets.integrity.checks import all_declarations, severity_label, severity_levels

    for d in all_declarations():
        checks = build_integrity_checks([d])
        (spec,) = checks[0].check_specs
        assert "Severity ERROR" in spec.description or "Severity WARN" in spec.description or (
            "Two severities: ERROR when" in spec.description and "WARN when only" in spec.description
        ), d.name
        label, levels = severity_label(d), severity_levels(d)
        # the label names every severity the check can fail with, ERROR first
        assert label.startswith("ERROR" if "ERROR" in levels else "WARN"), d.name
        assert all(level in label for level in levels), d.name
        if d.severity == "ERROR" and d.blocking:
            assert "(blocking)" in label and "blocks downstream assets" in spec.description, d.name
        if "(ERROR)" in spec.description:  # the old text that contradicted a WARN result
            raise AssertionError(d.name)


def test_report_summary_lineage_and_the_sensor_that_keeps_it_current(config, tmp_path):
    from brody_assets.integrity.report_asset import REPORT_JOB, integrity_report_after_checks

    _, config_file = config
    defs = defs_for(config_file, declarations(blocking=False))
    graph = defs.resolve_asset_graph()
    assert graph.get(REPORT_KEY).parent_keys == {MASS}  # depends on what it summarizes
    assert graph.get(REPORT_KEY).kinds == {"great_expectations", "html"}
    with dg.instance_for_test() as instance:
        # nothing has run: the sensor skips and says why
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        skipped = integrity_report_after_checks(context)
        assert isinstance(skipped, dg.SkipReason) and "no run has finished" in skipped.skip_message

        # a run without checks moves the cursor and asks for nothing
        dg.materialize([mass], instance=instance)
        quiet = integrity_report_after_checks(dg.build_sensor_context(instance=instance, definitions=defs))
        assert not quiet.run_requests and "none evaluated integrity checks" in quiet.skip_reason.skip_message

        # a run of the checks asks for a report run, once
        checks_run = defs.resolve_job_def(CHECKS_JOB).execute_in_process(instance=instance)
        after = integrity_report_after_checks(
            dg.build_sensor_context(instance=instance, definitions=defs, cursor=quiet.cursor)
        )
        (request,) = after.run_requests
        assert request.run_key == f"after-{checks_run.run_id}"
        assert integrity_report_after_checks(dg.build_sensor_context(
            instance=instance, definitions=defs, cursor=after.cursor
        )).skip_message.startswith("no run has finished")
        assert defs.resolve_sensor_def("integrity_report_after_checks").job_name == REPORT_JOB

        # the report run: counts by severity, the failing check listed, the HTML page linked
        report = defs.resolve_job_def(REPORT_JOB).execute_in_process(instance=instance)
        (event,) = report.get_asset_materialization_events()
        meta = event.materialization.metadata
        assert (meta["checks"].value, meta["passing"].value, meta["failing_error"].value,
                meta["failing_warn"].value, meta["errored"].value) == (3, 2, 1, 0, 0)
        summary = meta["summary"].value
        assert "| ERROR | 0 | 1 | 0 |" in summary and "| WARN | 2 | 0 | 0 |" in summary
        assert "- **mass_tech_known** on `legacy/ratinfo/mass` (ERROR): 2 unexpected" in summary
        url = meta["html_report_url"].value
        assert url.startswith("file:///") and url.endswith("integrity/integrity_report.html")
        assert f"[HTML page]({url})" in summary
        assert meta["generated_at"].value >= meta["newest_check_result"].value


def test_checks_log_their_progress_and_time(config):
    _, config_file = config
    defs = defs_for(config_file, declarations(blocking=False))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(CHECKS_JOB).execute_in_process(instance=instance)
        messages = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message]
    step = "legacy/ratinfo/mass"
    assert f"{step}: running 3 integrity check(s) with Great Expectations" in messages
    assert any(re.match(rf"{step}: Great Expectations ready in \d+\.\d s; 3 check\(s\) on 1 relation\(s\)", m)
               for m in messages), messages
    assert any(re.match(rf"{step}: relation 1/1 \(.*mass\): .*mass_tech_known.* in \d+\.\d s", m) for m in messages)
    assert any(re.match(r"mass_tech_known: ERROR: 2 unexpected \(66\.6667%\) \(\d+\.\d s\)", m) for m in messages)
    assert any(re.match(rf"{step}: 3 check\(s\) done in \d+\.\d s, 1 failing", m) for m in messages)
