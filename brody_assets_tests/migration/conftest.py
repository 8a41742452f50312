"""Fixtures of the migration tests."""

from __future__ import annotations

import pytest

from .native_support import PATHS, using


@pytest.fixture(params=PATHS)
def implementation(request):
    """The test runs twice: with the C extension (a :class:`.native_support.Counting`, whose
    ``answered`` tells what it did not decline) and with the pure-Python path (``None``)."""
    with using(request.param) as ext:
        yield ext
