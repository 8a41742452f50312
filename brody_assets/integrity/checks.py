"""The Dagster side of the integrity checks: declarations -> ``@multi_asset_check``s, a job, the report.

One multi-asset check per attached asset (or per family, see ``group_by``) runs its declarations in
one Great Expectations run and yields one ``AssetCheckResult`` per declaration, under the spec's
snake_case name. Severity and blocking come from the declaration: a blocking check that fails with
ERROR stops downstream assets in the run that materializes its asset; WARN never blocks.

The ``integrity_checks`` job runs every check without materializing anything. The
``integrity/report`` asset lists every check with pass/fail, counts and since when it has failed,
and writes a static HTML page under the instance's storage directory.

Great Expectations is imported only when a check executes (inside ``runner.run_checks``).
"""

import re
import time
from collections.abc import Callable, Iterable, Sequence

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetSelection,
    Definitions,
    MetadataValue,
    define_asset_job,
    multi_asset_check,
)

from brody_assets.config import DEFAULT_OWNERS
from brody_assets.integrity.declarations import CheckDeclaration, load_declarations
from brody_assets.integrity.report_asset import (
    CHECKS_JOB,
    GROUP,
    REPORT_JOB,
    REPORT_KEY,
    integrity_report_after_checks,
    report_asset,
)
from brody_assets.integrity.runner import CheckOutcome, run_checks

__all__ = ["CHECKS_JOB", "GROUP", "REPORT_JOB", "REPORT_KEY", "integrity_definitions", "report_asset"]


def check_key(declaration: CheckDeclaration) -> AssetCheckKey:
    return AssetCheckKey(AssetKey(list(declaration.asset)), declaration.name)


def attached(
    declarations: Iterable[CheckDeclaration], existing_asset_keys: Iterable[AssetKey] | None
) -> tuple[list[CheckDeclaration], list[CheckDeclaration]]:
    """(declarations whose asset exists in the Definitions, those whose asset does not yet)."""
    declarations = list(declarations)
    if existing_asset_keys is None:
        return declarations, []
    keys = {AssetKey.from_coercible(k) for k in existing_asset_keys}
    found = [d for d in declarations if AssetKey(list(d.asset)) in keys]
    return found, [d for d in declarations if AssetKey(list(d.asset)) not in keys]


def outcome_metadata(outcome: CheckOutcome) -> dict[str, MetadataValue]:
    """What a person sees on the checks tab: counts, failing rows, the error, the SQL."""
    return {
        "unexpected_count": MetadataValue.int(outcome.unexpected_count),
        "unexpected_percent": (
            MetadataValue.float(float(outcome.unexpected_percent))
            if outcome.unexpected_percent is not None
            else MetadataValue.text("n/a")
        ),
        "element_count": (
            MetadataValue.int(outcome.element_count)
            if outcome.element_count is not None
            else MetadataValue.text("n/a")
        ),
        "failing_rows": MetadataValue.md(outcome.failing_rows or "_no failing rows_"),
        "error": MetadataValue.text(outcome.error or "none"),
        "sql": MetadataValue.md(f"```sql\n{outcome.sql}\n```" if outcome.sql else "-"),
        "spec": MetadataValue.text(outcome.spec or "-"),
        "duration_s": MetadataValue.float(outcome.duration_s),
    }


def _severity(outcome: CheckOutcome) -> AssetCheckSeverity:
    return AssetCheckSeverity.ERROR if outcome.severity == "ERROR" else AssetCheckSeverity.WARN


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")


def _by_asset(declaration: CheckDeclaration) -> str:
    return declaration.asset_path


def by_family(declaration: CheckDeclaration) -> str:
    """Group ``migrated/action/mass`` with every ``migrated/action/*`` check (fewer steps)."""
    return "/".join(declaration.asset[:-1]) or declaration.asset_path


def build_integrity_checks(
    declarations: Sequence[CheckDeclaration],
    existing_asset_keys: Iterable[AssetKey] | None = None,
    resource_key: str = "datajoint",
    group_by: Callable[[CheckDeclaration], str] = _by_asset,
    legacy_resource_key: str | None = None,
) -> list[AssetChecksDefinition]:
    """One ``@multi_asset_check`` per group of declarations (default: per attached asset).

    ``existing_asset_keys``: the asset keys of the Definitions; declarations on other assets are
    left out (see :func:`attached`). ``resource_key`` names a resource with a ``.settings``
    (``datajoint`` or ``legacy_db``). ``legacy_resource_key`` names the read-only legacy
    resource (``legacy_db``): when legacy is on another server, legacy is read through it.
    """
    found, _ = attached(declarations, existing_asset_keys)
    groups: dict[str, list[CheckDeclaration]] = {}
    for declaration in found:
        groups.setdefault(group_by(declaration), []).append(declaration)
    return [
        _multi_check(name, members, resource_key, legacy_resource_key)
        for name, members in groups.items()
    ]


def _multi_check(
    group: str,
    members: list[CheckDeclaration],
    resource_key: str,
    legacy_resource_key: str | None = None,
):
    specs = [
        AssetCheckSpec(
            name=d.name,
            asset=AssetKey(list(d.asset)),
            description=_description(d),
            blocking=d.blocking,
            metadata={"spec": d.spec or "-", "severity": severity_label(d), "batch": d.batch_ref},
        )
        for d in members
    ]
    by_key = {check_key(d): d for d in members}

    @multi_asset_check(
        name=f"integrity__{_slug(group)}",
        specs=specs,
        can_subset=True,
        required_resource_keys={resource_key, *([legacy_resource_key] if legacy_resource_key else [])},
        description=f"Integrity checks on {group} ({len(members)}), run by Great Expectations.",
        op_tags={"kind": "great_expectations"},
    )
    def _integrity_check(context: AssetCheckExecutionContext):
        chosen = [d for key, d in by_key.items() if key in context.selected_asset_check_keys]
        settings = getattr(context.resources, resource_key).settings
        legacy = getattr(context.resources, legacy_resource_key) if legacy_resource_key else None
        by_name = {(d.asset, d.name): d for d in chosen}
        started = time.perf_counter()
        context.log.info(f"{group}: running {len(chosen)} integrity check(s) with Great Expectations")
        outcomes = run_checks(
            settings,
            chosen,
            legacy_connect=legacy.connect if legacy is not None else None,
            progress=lambda line: context.log.info(f"{group}: {line}"),
        )
        for outcome in outcomes:
            declaration = by_name.get((outcome.asset, outcome.name))
            line = f"{outcome.name}: {_result_text(outcome, declaration)} ({outcome.duration_s:.1f} s)"
            if outcome.error:
                context.log.error(f"{outcome.name}: {outcome.error}")
            else:
                context.log.info(line)
            yield AssetCheckResult(
                asset_key=AssetKey(list(outcome.asset)),
                check_name=outcome.name,
                passed=outcome.passed,
                severity=_severity(outcome),
                metadata=outcome_metadata(outcome),
                description=_result_text(outcome, declaration),
            )
        failing = sum(not o.passed for o in outcomes)
        context.log.info(f"{group}: {len(outcomes)} check(s) done in {time.perf_counter() - started:.1f} s, "
                         f"{failing} failing")

    return _integrity_check


WHY = {
    "ERROR": "data lost or a broken key, which downstream tables must not build on",
    "WARN": "a lab-practice conflict or rows set aside in the quarantine ledger with a reason: "
    "to review, nothing lost",
}


def severity_levels(d: CheckDeclaration) -> dict[str, list[str]]:
    """Each severity the check can fail with, and the expectations that fail with it."""
    levels: dict[str, list[str]] = {}
    for expectation in d.expectations:
        levels.setdefault(expectation.severity or d.severity, []).append(expectation.describe())
    return levels or {d.severity: [d.description or d.name]}


def severity_label(d: CheckDeclaration) -> str:
    """The declared severity in a few words, e.g. ``ERROR (blocking)`` or, for a check whose parts
    differ, ``ERROR (blocking) or WARN, by the part that fails``."""
    levels = severity_levels(d)
    blocking = " (blocking)" if d.blocking and "ERROR" in levels else ""
    if len(levels) > 1:
        return f"ERROR{blocking} or WARN, by the part that fails"
    (level,) = levels
    return f"{level}{blocking}"


def severity_text(d: CheckDeclaration) -> str:
    """Why the check is ERROR or WARN, and what a failure does to downstream assets."""
    levels = severity_levels(d)
    if "ERROR" in levels:
        blocks = ("blocks downstream assets in the run that materializes this asset" if d.blocking
                  else "does not block downstream assets (declared non-blocking)")
    if len(levels) > 1:
        error, warn = ("; ".join(f"“{text}”" for text in levels[level]) for level in ("ERROR", "WARN"))
        return (
            f"Two severities: ERROR when {error} finds rows ({WHY['ERROR']}; {blocks}); "
            f"WARN when only {warn} finds rows ({WHY['WARN']}; never blocks)."
        )
    (level,) = levels
    if level == "ERROR":
        return f"Severity ERROR: a failure means {WHY['ERROR']}; it {blocks}."
    return f"Severity WARN: a failure is {WHY['WARN']}; it never blocks downstream assets."


def _description(d: CheckDeclaration) -> str:
    head = f"[{d.spec}] " if d.spec else ""
    text = (d.description or d.name).rstrip(".")
    return f"{head}{text}. {severity_text(d)}"


def _result_text(outcome: CheckOutcome, declaration: CheckDeclaration | None = None) -> str:
    if outcome.error:
        return f"{outcome.severity}: errored: {outcome.error.splitlines()[0][:300]}"
    if outcome.passed:
        return "passed"
    percent = (
        f" ({outcome.unexpected_percent:g}%)" if outcome.unexpected_percent is not None else ""
    )
    text = f"{outcome.severity}: {outcome.unexpected_count:,} unexpected{percent}"
    levels = severity_levels(declaration) if declaration is not None else {}
    if len(levels) > 1 and outcome.severity == "WARN":
        text += f"; only the WARN part found rows ({'; '.join(levels['WARN'])}): nothing lost"
    return text


def integrity_checks_job(checks: Sequence[AssetChecksDefinition]):
    """A job that runs the given checks and materializes nothing."""
    return define_asset_job(
        CHECKS_JOB,
        selection=AssetSelection.checks(*checks),
        description="Run every integrity check (Great Expectations on MariaDB); materializes nothing.",
        tags={"brody/kind": "integrity"},
    )


def all_declarations() -> list[CheckDeclaration]:
    """Every shipped check: the spec's YAML declarations plus those generated from the migration
    registry (generic per-table checks, windows and drift: :mod:`.generic`, :mod:`.windows`)."""
    from brody_assets.integrity.comparison import comparison_dicts
    from brody_assets.integrity.declarations import declarations_from_dicts
    from brody_assets.integrity.generic import generic_dicts
    from brody_assets.integrity.windows import window_dicts

    yaml_checks = load_declarations()
    generated = declarations_from_dicts(
        [*generic_dicts(), *window_dicts(), *comparison_dicts()], source="registry"
    )
    keys = {d.key for d in yaml_checks}
    clash = [d.key for d in generated if d.key in keys]
    if clash:
        raise ValueError(f"checks declared both in YAML and from the registry: {clash}")
    return [*yaml_checks, *generated]


def integrity_definitions(
    declarations: Sequence[CheckDeclaration] | None = None,
    existing_asset_keys: Iterable[AssetKey] | None = None,
    resource_key: str = "datajoint",
    group_by: Callable[[CheckDeclaration], str] = _by_asset,
    legacy_resource_key: str | None = None,
    owners: Sequence[str] = DEFAULT_OWNERS,
) -> Definitions:
    """The integrity domain's Definitions: the checks, the checks job, the report asset and the
    sensor that refreshes it after every run that evaluated checks.

    ``declarations`` default to :func:`all_declarations` (the YAML files under
    ``resources/expectations/`` plus the checks generated from the migration registry).
    """
    from brody_assets.integrity.comparison import schemas_asset

    if declarations is None:
        declarations = all_declarations()
    if existing_asset_keys is not None:  # the schema-comparison checks attach to our own asset
        existing_asset_keys = [*existing_asset_keys, schemas_asset.key]
    checks = build_integrity_checks(
        declarations, existing_asset_keys, resource_key, group_by, legacy_resource_key
    )
    keys = [key for check in checks for key in check.check_keys]
    return Definitions(
        assets=[report_asset(keys, owners), schemas_asset],
        asset_checks=checks,
        sensors=[integrity_report_after_checks],
        jobs=([integrity_checks_job(checks)] if checks else [])
        + [
            define_asset_job(
                REPORT_JOB,
                selection=AssetSelection.assets(REPORT_KEY),
                description="Write the integrity report (summary asset + HTML page).",
            )
        ],
    )
