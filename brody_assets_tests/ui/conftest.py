"""Harness for real-browser tests: `dagster dev` on 127.0.0.1 and headless Debian Chromium.

Fixtures: ``dagster_ui`` (base URL of a running `dagster dev` over this project's workspace, with
its own DAGSTER_HOME) and ``page`` (a Playwright page in /usr/bin/chromium). Later issues add their
own pages and assertions on top of these.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from brody_assets.config import PROJECT_ROOT

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
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def dismiss_welcome(page) -> None:
    """Close the first-visit "Join the Dagster community" dialog when it shows."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=4000)
        skip.click()
    except Exception:  # noqa: BLE001 - the dialog does not always show
        pass
