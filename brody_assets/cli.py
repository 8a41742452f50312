"""The ``brody-assets`` command: the project's database server, the demo data, and running the graph.

    brody-assets db start|stop|status|reset|bootstrap
    brody-assets db grants [--client-host HOST]   the SQL a DBA runs for a site's own servers
    brody-assets demo build [--scale small|lab] [--seed N] [--no-drives]
    brody-assets demo append --days N
    brody-assets demo record [--rat R] [--date D] [--copy-seconds S]   a new recording lands on the drives
    brody-assets materialize            observe the legacy tables and materialize every asset
    brody-assets integrity [--run]      the integrity report (every check, failing since when)
    brody-assets config                 show the configuration (passwords hidden)
    brody-assets doctor                 is this site ready to migrate? (read-only checks)
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence

from brody_assets import paths
from brody_assets.config import ConfigError, Settings, load_settings

LOCAL_HOSTS = ("127.0.0.1", "localhost")


def _settings() -> Settings:
    return load_settings()


def _server(settings: Settings):
    from brody_assets.db import MariaDBServer

    if settings.database.host not in LOCAL_HOSTS:
        raise ConfigError(
            f"'database.host' is {settings.database.host}: the project only runs its own server on "
            "127.0.0.1. Point the config at 127.0.0.1 to use the project-run server."
        )
    return MariaDBServer(paths.server_home(), settings.database.port)


def grants_sql(settings: Settings, client_hosts: Sequence[str]) -> list[str]:
    """The statements a DBA runs on a site's own servers, per server, passwords left to the DBA."""
    from brody_assets.db.grants import render_sql

    hosts = ", ".join(client_hosts)
    pipeline, legacy = settings.database, settings.legacy
    out = [
        "-- brody_assets: accounts and grants for a site's own servers (`brody-assets db grants`).",
        f"-- Accounts may log in from: {hosts} (the machine that runs the pipeline; --client-host).",
        "-- Replace each <...> password with the one you put in dj_local_conf.json.",
        "",
    ]
    if settings.legacy_on_pipeline_server:
        out.append(f"-- On the one server {pipeline.host}:{pipeline.port} (legacy and pipeline), as an admin:")
        sections: list[tuple[str, ...]] = [("legacy-account", "pipeline-account", "pipeline-reads-legacy")]
    else:
        out.append(f"-- 1. On the pipeline server {pipeline.host}:{pipeline.port}, as an admin:")
        sections = [("pipeline-account",)]
    for names in sections:
        out.extend(s + ";" for s in render_sql(settings, names, client_hosts=client_hosts, passwords=False))
    if not settings.legacy_on_pipeline_server:
        out += ["", f"-- 2. On the legacy server {legacy.host}:{legacy.port}, as an admin (SELECT only):"]
        out.extend(
            s + ";" for s in render_sql(settings, ("legacy-account",), client_hosts=client_hosts, passwords=False)
        )
    return out


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.action == "grants":
        hosts = args.client_host or (
            ["127.0.0.1", "localhost"] if settings.database.host in LOCAL_HOSTS else ["%"]
        )
        for line in grants_sql(settings, hosts):
            print(line)
        return 0
    server = _server(settings)
    if args.action == "start":
        status = server.start()
        with server.admin_connect() as admin:
            from brody_assets.db import bootstrap

            bootstrap(admin, settings, server="pipeline")
        print(status.describe())
    elif args.action == "stop":
        print("stopped" if server.stop() else "was not running")
    elif args.action == "status":
        print(server.status().describe())
        return 0 if server.is_running() else 3
    elif args.action == "reset":
        server.reset()
        print(f"server stopped and data directory {server.datadir} deleted")
    elif args.action == "bootstrap":
        from brody_assets.db import bootstrap

        with server.admin_connect() as admin:
            bootstrap(admin, settings, server="pipeline")
        if settings.legacy_on_pipeline_server:
            print(f"accounts ready: {settings.database.user} (pipeline), {settings.legacy.user} "
                  "(legacy, read-only)")
        else:
            print(f"account ready: {settings.database.user} (pipeline). Legacy is on "
                  f"{settings.legacy.host}:{settings.legacy.port}: nothing of it was created here; "
                  "`brody-assets db grants` prints what its DBA runs there.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings()
    server = _server(settings)
    server.start()
    if args.action == "build":
        from brody_assets.demo.build import build_demo

        with server.admin_connect() as admin:
            summary = build_demo(
                admin, settings, paths.demo_home(), scale=args.scale, seed=args.seed,
                with_drives=not args.no_drives,
            )
        for line in summary.lines():
            print(line)
    elif args.action == "record":
        from brody_assets.demo.record import record

        manifest = record(
            settings, ratname=args.rat, date=args.date, layout=args.layout, probes=args.probes,
            copy_seconds=args.copy_seconds, sort_delay_s=args.sort_delay, with_sort=not args.no_sort,
            seed=args.seed,
        )
        print(f"done: {len(manifest['probes'])} probe(s) of {manifest['experimenter']}/"
              f"{manifest['ratname']} {manifest['date']}; the archive-drive sensor ingests it on its "
              "next ticks (every 30 s)")
    else:
        from brody_assets.demo.legacy import append_days

        with server.admin_connect() as admin:
            result = append_days(
                admin, settings.legacy_schema_prefix, days=args.days, seed=args.seed,
                manifest_path=paths.demo_home() / "manifest.json",
            )
        added = ", ".join(f"{t} +{n}" for t, n in sorted(result["rows_added"].items()) if n)
        print(f"appended {args.days} day(s): {added}")
    return 0


def _prepare_dagster_home() -> str:
    from brody_assets.instance.home import prepare_home

    return str(prepare_home())


def cmd_materialize(args: argparse.Namespace) -> int:
    from brody_assets.run import MAIN_JOBS, materialize_all

    home = _prepare_dagster_home()
    report = materialize_all(tuple(args.job) if args.job else MAIN_JOBS)
    for line in report.lines():
        print(line)
    print(f"Dagster instance (run history, observations, check results): {home}")
    print(
        "UI: `DAGSTER_HOME=" + home + " .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000` then open "
        "http://127.0.0.1:3000/asset-groups"
    )
    # any error line (a failed job, or an archive drive that is not there) fails the command
    return 0 if report.ok and not report.errors else 1


def cmd_integrity(args: argparse.Namespace) -> int:
    from brody_assets.integrity.report import integrity_report_main

    _prepare_dagster_home()
    return integrity_report_main(args)


def cmd_config(args: argparse.Namespace) -> int:
    settings = _settings()
    print(f"config file:      {settings.source}")
    print(f"pipeline account: {settings.database.describe()} (new prefix '{settings.new_prefix}', "
          f"shadow prefix '{settings.shadow_prefix}')")
    print(f"legacy account:   {settings.legacy.describe()} (schema prefix '{settings.legacy_schema_prefix}')")
    print(f"archive drive:    {settings.archive_root}")
    print(f"cup drive:        {settings.cup_root}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from brody_assets.doctor import report, run_doctor

    lines, status = report(run_doctor(_settings()))
    for line in lines:
        print(line)
    return status


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="brody-assets", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="the project's own MariaDB server")
    db.add_argument("action", choices=["start", "stop", "status", "reset", "bootstrap", "grants"])
    db.add_argument(
        "--client-host", action="append",
        help="grants: the host the pipeline connects from, as the server sees it (repeatable; "
        "default 127.0.0.1 and localhost for a local server, else '%%': narrow it)",
    )
    db.set_defaults(func=cmd_db)
    demo = sub.add_parser("demo", help="synthetic legacy database and drives")
    demo_sub = demo.add_subparsers(dest="action", required=True)
    build = demo_sub.add_parser("build", help="(re)build the demo legacy database and drives")
    build.add_argument("--scale", default="small", help="small (seconds) or lab (1/10 of the lab)")
    build.add_argument("--seed", type=int, default=7)
    build.add_argument("--no-drives", action="store_true", help="skip the demo archive/cup drives")
    append = demo_sub.add_parser("append", help="add N new days of data, as the rigs do nightly")
    append.add_argument("--days", type=int, default=1)
    append.add_argument("--seed", type=int, default=7)
    rec = demo_sub.add_parser(
        "record", help="a new Neuropixels recording (then its Kilosort output) arrives on the demo drives"
    )
    rec.add_argument("--rat", help="rat of the behaviour session (default: the newest free session)")
    rec.add_argument("--date", type=dt.date.fromisoformat, help="day of the session, YYYY-MM-DD")
    rec.add_argument("--layout", default="standard", choices=["standard", "underscore", "date_only"])
    rec.add_argument("--probes", type=int, default=1)
    rec.add_argument("--copy-seconds", type=float, default=8.0, help="how long the .bin copy takes")
    rec.add_argument("--sort-delay", type=float, default=5.0, help="seconds before the sort lands")
    rec.add_argument("--no-sort", action="store_true", help="raw files only")
    rec.add_argument("--seed", type=int, default=11)
    demo.set_defaults(func=cmd_demo)
    materialize = sub.add_parser("materialize", help="observe legacy tables and materialize every asset")
    materialize.add_argument(
        "--job", action="append", metavar="NAME",
        help="run only this job (repeatable; default: observe_legacy, migrate_all, integrity_checks, "
        "integrity_report)",
    )
    materialize.set_defaults(func=cmd_materialize)
    integrity = sub.add_parser(
        "integrity", help="the integrity report: every check, pass/fail, counts, failing since"
    )
    from brody_assets.integrity.report import add_integrity_arguments

    add_integrity_arguments(integrity)
    integrity.set_defaults(func=cmd_integrity)
    config = sub.add_parser("config", help="show the configuration (passwords hidden)")
    config.set_defaults(func=cmd_config)
    doctor = sub.add_parser(
        "doctor", help="check connections, grants, legacy schema drift, server settings and drives (no writes)"
    )
    doctor.set_defaults(func=cmd_doctor)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError, ConnectionError, RuntimeError) as error:
        print(f"brody-assets: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
