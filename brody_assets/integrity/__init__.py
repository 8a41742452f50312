"""Integrity checks: declarations as data, a Great Expectations runner, Dagster checks, the report.

``declarations`` (the model and loader), ``runner`` (GX on MariaDB) and ``report`` import neither
Dagster nor Great Expectations at module level; ``checks`` is the Dagster factory.
"""
