"""Legacy database domain: the catalog of source tables and their observation assets."""
