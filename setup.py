"""Only the optional C extension of the blob paths; metadata and dependencies live in setup.cfg.

(setuptools reads ``[tool.setuptools] ext-modules`` in pyproject.toml only beside a ``[project]``
table, which would split the metadata between two files.) ``optional=True``: a failed compile (no
gcc, no Python headers) leaves a working pure-Python install; see brody_assets/migration/engine/
native.py.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "brody_assets.migration.engine._native",
            ["brody_assets/migration/engine/_native.c"],
            optional=True,
        )
    ]
)
