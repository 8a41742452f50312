"""Neuropixels ephys: SpikeGLX recordings (archive drive) and Kilosort outputs (cup drive) ->
element-array-ephys ``ephys_chronic`` tables, one Dagster partition per recording.

Nothing is imported here: the element and the readers are heavy, and the code location must load
fast. Modules: ``element`` (activation), ``ingest`` (the engine, no Dagster), ``assets``,
``checks``, ``plots``, ``definitions`` (the domain's Definitions), plus the readers and the sensor.
"""
