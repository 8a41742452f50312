"""Harness for real-browser tests: `dagster dev` on 127.0.0.1 and headless Debian Chromium.

Fixtures: ``dagster_ui`` (base URL of a running `dagster dev` over this project's workspace, with
its own DAGSTER_HOME) and ``page`` (a Playwright page in /usr/bin/chromium, with every dialog the UI
can show kept out of the way: :mod:`.browser`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from brody_assets.config import PROJECT_ROOT
from brody_assets_tests.ui.browser import (
    SEEN_SCRIPT,
    install_dialog_handler,
    mark_nux_seen,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited early ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"dagster dev did not answer {url} in {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def brody_config(conf: Path) -> Iterator[None]:
    """``BRODY_CONFIG`` pointing at ``conf`` while in-process runs resolve their resources;
    the previous value (or its absence) is restored after."""
    previous = os.environ.get("BRODY_CONFIG")
    os.environ["BRODY_CONFIG"] = str(conf)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("BRODY_CONFIG", None)
        else:
            os.environ["BRODY_CONFIG"] = previous


def start_dagster_dev(dagster_home: Path, env_extra: dict[str, str] | None = None):
    """Start `dagster dev` bound to 127.0.0.1 on a free port; returns (process, base_url, log)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "resources" / "dagster.yaml", dagster_home / "dagster.yaml")
    port = _free_port()
    log = dagster_home / "dagster-dev.log"
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), **(env_extra or {})}
    with open(log, "w") as log_handle:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
             "-w", str(PROJECT_ROOT / "workspace.yaml")],
            cwd=PROJECT_ROOT, env=env, stdout=log_handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/server_info", process, log)
        mark_nux_seen(base)  # no first-visit dialog on a fresh instance
    except Exception:
        stop_dagster_dev(process)
        raise
    return process, base, log


def stop_dagster_dev(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def dagster_ui(tmp_path_factory):
    process, base, _ = start_dagster_dev(tmp_path_factory.mktemp("dagster_home"))
    yield base
    stop_dagster_dev(process)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # assertions wait on state as long as actions do
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, timezone_id="UTC", locale="en-US")
    context.add_init_script(SEEN_SCRIPT)
    context.set_default_timeout(60_000)  # a loaded 2-core machine renders slowly; waits end on state
    page = context.new_page()
    install_dialog_handler(page)
    yield page
    context.close()


@dataclass
class PopulatedUI:
    """`dagster dev` over an instance where the small demo was observed, migrated, checked and
    reported, as `brody-assets materialize` does; ``conf`` is its dj_local_conf.json."""

    base: str
    home: Path
    conf: Path
    settings: object
    water: object  # the latest materialization of migrated/action/water
    report: object  # the latest materialization of integrity/report
    failing_check: object  # the evaluation of FAILING_CHECK on FAILING_ASSET


FAILING_ASSET = ("migrated", "action", "water")
FAILING_CHECK = "water_ratname_in_rats"


@pytest.fixture(scope="session")
def populated_ui(mariadb_server, prefix_factory, tmp_path_factory):
    import datetime as dt

    from dagster import AssetKey, DagsterInstance

    from brody_assets.db import bootstrap
    from brody_assets.demo.legacy import build_legacy_database
    from brody_assets.run import MAIN_JOBS
    from brody_assets_tests.conftest import make_settings, write_config

    prefix = prefix_factory()
    settings = make_settings(mariadb_server, prefix)
    with mariadb_server.admin_connect() as admin:
        build_legacy_database(admin, prefix, scale="small", seed=3, end_date=dt.date(2026, 11, 20))
        bootstrap(admin, settings)
    conf = write_config(settings, tmp_path_factory.mktemp("conf") / "dj_local_conf.json")
    home = tmp_path_factory.mktemp("dagster_home_populated")
    shutil.copy(PROJECT_ROOT / "resources" / "dagster.yaml", home / "dagster.yaml")
    with brody_config(conf):
        from brody_assets.definitions import defs

        instance = DagsterInstance.from_config(str(home))
        failing = None
        for job in MAIN_JOBS:
            result = defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False)
            for event in result.all_events:
                data = event.event_specific_data
                if (event.event_type_value == "ASSET_CHECK_EVALUATION" and data.check_name == FAILING_CHECK
                        and tuple(data.asset_key.path) == FAILING_ASSET):
                    failing = data

        def latest(key):
            return instance.fetch_materializations(AssetKey(key), limit=1).records[0].asset_materialization

        water, report = latest(list(FAILING_ASSET)), latest(["integrity", "report"])
        instance.dispose()
    process, base, _ = start_dagster_dev(home, env_extra={"BRODY_CONFIG": str(conf)})
    yield PopulatedUI(base, home, conf, settings, water, report, failing)
    stop_dagster_dev(process)
