"""What one ingestion run holds (:class:`EphysContext`) and the fetch-and-validate stage
(:func:`prepare`): a partition is matched to its behaviour session and its SpikeGLX file set and
Kilosort folder are read and checked before anything is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from brody_assets.config import ConfigError, Settings
from brody_assets.ephys.element import EphysSchemas, ensure_element, processed_root
from brody_assets.ephys.errors import KilosortError, RecordingError
from brody_assets.ephys.partitions import meta_path_of

if TYPE_CHECKING:  # the readers load numpy/pandas arrays; imported where used
    from brody_assets.ephys.kilosort import KilosortOutput
    from brody_assets.ephys.matching import RecordingMatch
    from brody_assets.ephys.spikeglx import SpikeGLXRecording


_IMEC_DIR = re.compile(r"_imec\d+$")


@dataclass
class EphysContext:
    """What one run needs: the DataJoint connection, schema names, drive roots, session lookup."""

    settings: Settings
    connection: object  # datajoint.Connection
    schemas: EphysSchemas
    _lookup: object | None = field(default=None, repr=False)
    _lookup_conn: object | None = field(default=None, repr=False)
    _tables: dict = field(default_factory=dict, repr=False)
    _sites: dict = field(default_factory=dict, repr=False)
    _max_packet: int | None = field(default=None, repr=False)  # probe type -> {(shank, col, row): electrode}

    @property
    def archive_root(self) -> Path:
        return _drive(self.settings.archive_root, "archive")

    @property
    def cup_root(self) -> Path:
        return _drive(self.settings.cup_root, "cup")

    @property
    def lookup(self):
        if self._lookup is None:
            import pymysql

            from brody_assets.ephys.matching import SessionLookup

            db = self.settings.database
            self._lookup_conn = pymysql.connect(host=db.host, port=db.port, user=db.user,
                                                password=db.password.reveal(), autocommit=True,
                                                **db.tls_options())
            self._lookup = SessionLookup.from_connection(self._lookup_conn, self.settings.new_prefix)
        return self._lookup

    def close(self) -> None:
        """Close the session-lookup connection (the DataJoint connection belongs to its owner)."""
        if self._lookup_conn is not None:
            self._lookup_conn.close()
            self._lookup_conn = self._lookup = None

    def table(self, name: str):
        """The element's table ``name`` as a ``dj.FreeTable`` (heading read once per context)."""
        import datajoint as dj

        if name not in self._tables:
            self._tables[name] = dj.FreeTable(self.connection, self.schemas.table(name).replace("`", ""))
        return self._tables[name]

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return list(self.connection.query(sql, args=args).fetchall())

    def t(self, name: str) -> str:
        return self.schemas.table(name)

    @property
    def max_packet(self) -> int:
        """The server's ``max_allowed_packet`` (bytes), read once."""
        if self._max_packet is None:
            self._max_packet = int(self.query("SELECT @@max_allowed_packet")[0][0])
        return self._max_packet


def _drive(root: Path | None, name: str) -> Path:
    if root is None:
        raise ConfigError(
            f"the {name} drive is not configured: set 'custom.ephys_root_data_dir' in "
            "dj_local_conf.json to [archive drive, cup drive]"
        )
    if not Path(root).is_dir():
        raise ConfigError(f"the {name} drive root {root} does not exist or is not a folder (not mounted?)")
    return Path(root)


def open_context(settings: Settings, connection=None) -> EphysContext:
    """Declare the element if needed (child process) and open a DataJoint connection."""
    import datajoint as dj

    schemas = ensure_element(settings)
    if connection is None:
        dj.config.update(settings.datajoint_config())
        connection = dj.Connection(
            host=settings.database.host, user=settings.database.user,
            password=settings.database.password.reveal(), port=settings.database.port,
            use_tls=settings.database.use_tls,
        )
    dj.config["enable_python_native_blobs"] = True  # ClusteringParamSet.params is a dict
    return EphysContext(settings, connection, schemas)


@dataclass(frozen=True)
class Partition:
    """One validated partition: its session match, recording and (when sorted) Kilosort output."""

    key: str
    match: RecordingMatch
    recording: SpikeGLXRecording
    kilosort: KilosortOutput | None  # None: not sorted yet
    kilosort_rel: str | None  # Kilosort folder relative to the cup's NP_sorted folder

    @property
    def rec_key(self) -> dict:
        """The primary key of ``EphysRecording`` for this partition."""
        return {"ratname": self.match.ratname, "sessid": int(self.match.sessid),
                "run": self.match.run, "insertion_number": int(self.match.insertion_number)}

    @property
    def meta_rel(self) -> str:
        return str(meta_path_of(self.key))

    @property
    def session_dir(self) -> str:
        raw = PurePosixPath(self.match.raw_dir)
        return str(raw.parent if _IMEC_DIR.search(raw.name) else raw)


def prepare(ctx: EphysContext, key: str, *, with_kilosort: bool = True) -> Partition:
    """Match, read and validate partition ``key``. Raises ``EphysInputError`` (naming the file) or
    ``matching.UnmatchedRecording``; writes nothing."""
    from brody_assets.ephys.kilosort import read_kilosort
    from brody_assets.ephys.matching import find_kilosort_folder, match_recording
    from brody_assets.ephys.spikeglx import read_recording

    archive, cup = ctx.archive_root, ctx.cup_root
    match = match_recording(key, ctx.lookup)
    recording = read_recording(archive / meta_path_of(key), archive)
    if recording.imec_index is not None and recording.imec_index != match.insertion_number:
        raise RecordingError(recording.ap_meta, f"file index imec{recording.imec_index} disagrees with "
                             f"its folder's insertion number {match.insertion_number}")
    kilosort = kilosort_rel = None
    if with_kilosort:
        folder = find_kilosort_folder(match, cup)
        if folder is not None:
            kilosort = read_kilosort(folder, cup)
            kilosort.validate_against(recording)
            _validate_clusters(kilosort)
            kilosort_rel = Path(folder).resolve().relative_to(processed_root(cup).resolve()).as_posix()
    return Partition(key, match, recording, kilosort, kilosort_rel)


def _validate_clusters(ks) -> None:
    """Cluster ids agree across spike_clusters / labels / templates (the units are the labelled
    clusters that own spikes; every spike's template exists)."""
    templates = np.asarray(ks.spike_templates)
    if templates.size and int(templates.max()) >= ks.templates.shape[0]:
        raise KilosortError(ks.folder / "spike_templates.npy",
                            f"template {int(templates.max())} does not exist (templates.npy holds "
                            f"{ks.templates.shape[0]})")
    owned = set(np.unique(np.asarray(ks.spike_clusters)).tolist())
    unlabelled = sorted(owned - set(ks.labels))
    if unlabelled:
        raise KilosortError(ks.label_file, f"cluster(s) {unlabelled[:10]} own spikes in spike_clusters.npy "
                            "but have no label")
