"""The legacy DDL the demo creates its tables from: the lab's own, kept in
:mod:`brody_assets.legacy.ddl` (the legacy assets read their column schemas from it)."""

from brody_assets.legacy.ddl import (
    LEGACY_SCHEMAS,
    LEGACY_TABLES_DDL,
    TABLE_ORDER,
    create_table_sql,
    schema_name,
)

__all__ = ["LEGACY_SCHEMAS", "LEGACY_TABLES_DDL", "TABLE_ORDER", "create_table_sql", "schema_name"]
