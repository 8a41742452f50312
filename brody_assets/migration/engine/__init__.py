"""The migration engine: pure transforms (no Dagster, no connections) used by the migration assets."""
