"""Legacy MySQL -> DataJoint migration: schemas, registry, engine and assets."""
