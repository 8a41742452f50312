"""Synthetic legacy Brody Lab database (``bdata`` / ``ratinfo`` / ``protocol``) with a defect manifest.

Used by the CLI, the tests and the benchmarks — never by production assets.
"""

from .append import append_days
from .build import build_legacy_database
from .ddl import LEGACY_TABLES_DDL
from .scales import SCALES

__all__ = ["LEGACY_TABLES_DDL", "SCALES", "append_days", "build_legacy_database"]
