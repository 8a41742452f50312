"""The partitions of the ephys assets: one partition per SpikeGLX recording (file set).

A partition key is the archive-relative POSIX path of the recording's ``.ap.meta`` file with the
``.ap.meta`` suffix removed, for example::

    Adrian/A230/A230_2019-08-09_g0/A230_2019-08-09_g0_imec0/A230_2019-08-09_g0_t0.imec0

Keys are added by the archive-drive sensor (``brody_assets.ephys.sensors``) when a recording has
finished copying; the data manager never types them by hand. Because the key is a path, the
folder that a partition came from can always be found again with :func:`meta_path_of`.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from dagster import DynamicPartitionsDefinition

RECORDINGS = DynamicPartitionsDefinition(name="ephys_recordings")

AP_META_SUFFIX = ".ap.meta"
# What Dagster refuses inside a partition key (dagster/_core/definitions/partitions/utils/base.py).
INVALID_KEY_SUBSTRINGS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")


def recording_key(meta_rel: PurePosixPath | str) -> str:
    """The partition key of the recording whose ``.ap.meta`` is at ``meta_rel``.

    ``meta_rel`` must be relative to the archive drive's root and end in ``.ap.meta``
    (SpikeGLX 3A-era names such as ``x_g0_t0.imec.ap.meta`` included).
    """
    path = PurePosixPath(meta_rel)
    if path.is_absolute():
        raise ValueError(f"recording_key: {path} must be relative to the archive root")
    if ".." in path.parts:
        raise ValueError(f"recording_key: {path} must not contain '..'")
    if not path.name.endswith(AP_META_SUFFIX) or path.name == AP_META_SUFFIX:
        raise ValueError(f"recording_key: {path} is not an .ap.meta file")
    return str(path)[: -len(AP_META_SUFFIX)]


def meta_path_of(key: str) -> PurePosixPath:
    """The archive-relative path of the ``.ap.meta`` file of partition ``key``."""
    if not key or key.endswith("/"):
        raise ValueError(f"meta_path_of: {key!r} is not a recording partition key")
    return PurePosixPath(key + AP_META_SUFFIX)


def bin_path_of(key: str) -> PurePosixPath:
    """The archive-relative path of the ``.ap.bin`` file of partition ``key``."""
    return PurePosixPath(str(meta_path_of(key))[: -len(".meta")] + ".bin")


def partition_key_problem(key: str) -> str | None:
    """Why Dagster would refuse ``key`` as a partition key, or None when it is fine."""
    bad = [repr(sub) for sub in INVALID_KEY_SUBSTRINGS if sub in key]
    if bad:
        return f"the path contains {', '.join(bad)}, which Dagster refuses in a partition key: rename the folder"
    if len(key) > 1024:
        return f"the path is {len(key)} characters long; keep it under 1024"
    return None
