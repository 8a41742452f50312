"""Driving the Dagster UI reliably: no dialog in the way, waits on state, never on the clock.

What the UI can put in front of a click, and how each is handled:

* the first-visit "Join the Dagster community" dialog (only on 127.0.0.1/localhost, one second
  after the first page loads, behind a ``dagster-backdrop`` overlay): marked seen on the server
  (:func:`mark_nux_seen`) and in the browser's storage (:data:`SEEN_SCRIPT`) before any page loads;
* any other dialog or overlay (a "what's new" popup, a dialog a click opened): closed by
  :func:`close_dialogs` (its Skip / Dismiss / Close button, else Escape), which a Playwright
  locator handler runs whenever a backdrop shows up before an action
  (:func:`install_dialog_handler`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request
from collections.abc import Callable

BACKDROP = ".dagster-backdrop, .bp5-overlay-backdrop, .bp4-overlay-backdrop"
DIALOG = ".dagster-dialog, .bp5-dialog, .bp4-dialog, [role=dialog]"
CLOSE_BUTTONS = ("Skip", "Dismiss", "Close", "Got it", "No thanks", "Done", "OK")
# Dagster's useStateWithStorage keeps JSON in localStorage; "communityNux" = "1" means dismissed.
SEEN_SCRIPT = "try { window.localStorage.setItem('communityNux', JSON.stringify('1')); } catch (e) {}"


def mark_nux_seen(base_url: str) -> None:
    """Tell the server the first-visit dialog was seen (the UI asks it ``shouldShowNux``)."""
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": "mutation SetNuxSeen { setNuxSeen }"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise RuntimeError(f"setNuxSeen failed: {answer['errors']}")


def close_dialogs(page, timeout_s: float = 15) -> None:
    """Close every open dialog and overlay; returns when none is left (or raises, naming it)."""
    deadline = time.monotonic() + timeout_s
    backdrops = page.locator(BACKDROP)
    while _visible(backdrops) or _visible(page.locator(DIALOG)):
        if time.monotonic() > deadline:
            raise AssertionError(f"a dialog would not close: {page.locator(DIALOG).first.inner_text()[:300]!r}")
        dialog = page.locator(DIALOG).last
        for name in CLOSE_BUTTONS:
            button = dialog.get_by_role("button", name=name, exact=True)
            if _visible(button):
                button.first.click(timeout=5000, no_wait_after=True)
                break
        else:
            page.keyboard.press("Escape")
        # state, not time: wait for the overlay to go (a closing animation runs first); if it
        # stays, the loop tries the next way to close it
        with contextlib.suppress(Exception):
            backdrops.first.wait_for(state="hidden", timeout=3000)


def _visible(locator) -> bool:
    return any(locator.nth(i).is_visible() for i in range(locator.count()))


def install_dialog_handler(page) -> None:
    """Close any dialog that appears whenever Playwright is about to act on the page."""
    page.add_locator_handler(page.locator(BACKDROP).first, lambda _overlay: close_dialogs(page))


@contextlib.contextmanager
def dialog_expected(page):
    """Within the block, a dialog the test opens on purpose stays open (the handler is off); on
    leaving, every dialog is closed and the handler is back."""
    page.remove_locator_handler(page.locator(BACKDROP).first)
    try:
        yield
    finally:
        close_dialogs(page)
        install_dialog_handler(page)


def open_page(page, url: str) -> None:
    """Go to ``url`` and make sure no dialog covers it."""
    page.goto(url, wait_until="domcontentloaded")
    close_dialogs(page)


def click(locator) -> None:
    """Click once no dialog is in the way (the handler also closes one that shows up meanwhile)."""
    close_dialogs(locator.page)
    locator.click()


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 60, refresh: Callable[[], None] | None = None) -> None:
    """Poll ``check`` until true (``refresh`` between tries, e.g. a page reload); no fixed sleeps
    beyond the refresh itself. Raises naming ``what`` when it never becomes true."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        if refresh is not None:
            refresh()
        else:
            time.sleep(0.25)  # the poll interval; the wait itself ends on the state


def body_text(page) -> str:
    return page.inner_text("body")


def number_pattern(value: int) -> re.Pattern:
    """``1234`` as the UI may print it: ``1234`` or ``1,234``."""
    return re.compile(rf"\b({value}|{value:,})\b")
