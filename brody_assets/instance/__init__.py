"""The Dagster instance the project runs against: its home, its run launcher, runs from the shell.

``home``: ``$DAGSTER_HOME`` prepared from ``resources/dagster.yaml``, its storage created once under
a lock. ``launcher``: the run launcher that lets run monitoring see a run whose process died.
``shell``: runs started by ``brody-assets`` executed against the workspace's code location, so
they show under their job in the UI. Nothing here imports DataJoint or the asset definitions.
"""
