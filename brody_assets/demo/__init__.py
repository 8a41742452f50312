"""Synthetic demo data: a legacy database like the lab's (with a defect manifest) and demo drives.

Used by the CLI, tests and benchmarks; never by production assets.
"""
