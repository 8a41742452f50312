"""Activation of element-array-ephys 0.2.11 (``probe`` + ``ephys_chronic``) under the configured prefix.

What gets declared (prefix = ``custom.database.prefix``, default ``bl_new_``):

==============================  =====================================================================
``<prefix>ephys_probe``         the element's ``probe`` schema (probe types, probes, electrode configs)
``<prefix>ephys``               ``ephys_chronic``: insertions, recordings, LFP, clustering … metrics
``<prefix>ephys_report``        the report schema the element's ``activate`` always creates
``<prefix>ephys_link``          ours: ``EphysSession`` (the element's ``Session``) and ``SkullReference``
==============================  =====================================================================

The **linking module** is built when :func:`activate_here` runs, never at import (spec P5): its
``Subject`` is the migrated ``subject.Rats``; its ``Session`` is :class:`EphysSession`
(``-> Rats, -> acquisition.Sessions, run``: one row per behaviour session and SpikeGLX run, so one
session can hold several runs and every probe of a run — spec §2.5, P15); its
``get_ephys_root_data_dir()`` returns a **fresh list** on each call (the element appends to it);
``get_processed_root_data_dir()`` is the cup drive (P9), so the element never makes folders on the
raw drive. Both cup-root conventions are accepted (P38): a configured cup root may be
``…/PhysData/`` (with ``NP_sorted/`` inside) or the ``NP_sorted/`` folder itself; clustering paths
are stored relative to the ``NP_sorted`` folder, as the lab's rows are.

Two rows the element lacks are added at activation: ``ClusteringMethod`` ``kilosort4`` (P35) and
``ClusterQualityLabel`` ``unsorted`` (phy's label for a cluster nobody has curated, P34).

DataJoint binds a table class to one schema per process, and importing the element sets
``enable_python_native_blobs`` and pulls heavy packages. So the element is imported only inside
:func:`activate_here`, and :func:`ensure_element` runs that in a short-lived **child process**
(like ``migration/declare.py``): the calling process (a Dagster run, a test session serving many
prefixes) never binds the classes. The ingestion (:mod:`brody_assets.ephys.ingest`) writes the
element's tables with plain SQL and ``dj.FreeTable``. Declaration is serialised by a server-wide
named lock and idempotent: a second call finds the tables and returns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

from brody_assets.config import ConfigError, DatabaseSettings, Secret, Settings

EXTRA_METHODS = (("kilosort4", "kilosort4 clustering method (Kilosort 4, loaded from its output folder)"),)
EXTRA_LABELS = (("unsorted", "not curated: phy's default label for a cluster nobody has labelled"),)
LOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class EphysSchemas:
    """The MySQL schema names of the ephys domain under one prefix."""

    prefix: str

    @property
    def probe(self) -> str:
        return f"{self.prefix}ephys_probe"

    @property
    def ephys(self) -> str:
        return f"{self.prefix}ephys"

    @property
    def report(self) -> str:
        return f"{self.prefix}ephys_report"

    @property
    def link(self) -> str:
        return f"{self.prefix}ephys_link"

    def all(self) -> tuple[str, ...]:
        """Every schema, in declaration order (drop in reverse)."""
        return (self.link, self.probe, self.ephys, self.report)

    def table(self, name: str) -> str:
        """Quoted full name of a table by its class path, e.g. ``table("CuratedClustering.Unit")``."""
        schema, table = TABLES[name]
        return f"`{getattr(self, schema)}`.`{table}`"


# class path -> (schema, MySQL table name) for every table the ingestion writes or reads.
TABLES: dict[str, tuple[str, str]] = {
    "EphysSession": ("link", "ephys_session"),
    "SkullReference": ("link", "#skull_reference"),
    "ProbeType": ("probe", "#probe_type"),
    "ProbeType.Electrode": ("probe", "#probe_type__electrode"),
    "Probe": ("probe", "#probe"),
    "ElectrodeConfig": ("probe", "#electrode_config"),
    "ElectrodeConfig.Electrode": ("probe", "#electrode_config__electrode"),
    "AcquisitionSoftware": ("ephys", "#acquisition_software"),
    "ProbeInsertion": ("ephys", "probe_insertion"),
    "InsertionLocation": ("ephys", "insertion_location"),
    "EphysRecording": ("ephys", "_ephys_recording"),
    "EphysRecording.EphysFile": ("ephys", "_ephys_recording__ephys_file"),
    "LFP": ("ephys", "_l_f_p"),
    "LFP.Electrode": ("ephys", "_l_f_p__electrode"),
    "ClusteringMethod": ("ephys", "#clustering_method"),
    "ClusteringParamSet": ("ephys", "#clustering_param_set"),
    "ClusterQualityLabel": ("ephys", "#cluster_quality_label"),
    "ClusteringTask": ("ephys", "clustering_task"),
    "Clustering": ("ephys", "_clustering"),
    "Curation": ("ephys", "curation"),
    "CuratedClustering": ("ephys", "_curated_clustering"),
    "CuratedClustering.Unit": ("ephys", "_curated_clustering__unit"),
    "WaveformSet": ("ephys", "_waveform_set"),
    "WaveformSet.PeakWaveform": ("ephys", "_waveform_set__peak_waveform"),
    "WaveformSet.Waveform": ("ephys", "_waveform_set__waveform"),
    "QualityMetrics": ("ephys", "_quality_metrics"),
    "QualityMetrics.Cluster": ("ephys", "_quality_metrics__cluster"),
    "QualityMetrics.Waveform": ("ephys", "_quality_metrics__waveform"),
}


# --- roots (both cup conventions, P38) --------------------------------------------------------------


def processed_root(cup_root: Path) -> Path:
    """The ``NP_sorted`` folder of a cup root given either as ``…/PhysData/`` or as ``…/NP_sorted/``.

    A root that holds an ``NP_sorted`` folder is the ``PhysData`` convention; otherwise the root is
    taken as the ``NP_sorted`` folder itself (whatever its name, as the lab's test folders were).
    """
    inner = cup_root / "NP_sorted"
    return inner if inner.is_dir() else cup_root


def ephys_roots(archive_root: Path, cup_root: Path) -> list[Path]:
    """A fresh list of roots for the element, in resolution order: archive first, then the cup's
    ``PhysData`` level when it differs from the processed root (so stored paths that begin with
    ``NP_sorted/`` still resolve). The element appends :func:`processed_root` itself."""
    sorted_root = processed_root(cup_root)
    if sorted_root != cup_root:  # cup root = …/PhysData with NP_sorted/ inside
        return [archive_root, cup_root]
    if cup_root.name == "NP_sorted":  # cup root = the NP_sorted folder itself
        return [archive_root, cup_root.parent]
    return [archive_root]


# --- the linking module, built at activation ---------------------------------------------------------


def build_linking_module(connection, settings: Settings, rats: type, sessions: type) -> types.ModuleType:
    """The linking module the element activates against, with our own link schema declared.

    ``rats`` and ``sessions`` are the migrated ``subject.Rats`` and ``acquisition.Sessions`` classes,
    bound to ``settings.new_prefix`` in this process.
    """
    import datajoint as dj

    names = EphysSchemas(settings.new_prefix)
    schema = dj.Schema(names.link, context={"Rats": rats, "Sessions": sessions}, connection=connection)

    @schema
    class EphysSession(dj.Manual):
        """One SpikeGLX run of one behaviour session: the element's ``Session``.

        Several runs per session and several probes per run are allowed (spec §2.5, P15).
        """

        definition = """
        # one SpikeGLX run (folder incl. gate) of a behaviour session
        -> Rats
        -> Sessions
        run                  : varchar(96)    # SpikeGLX run incl. gate, e.g. A230_2019-08-09_g0
        ---
        session_dir          : varchar(255)   # archive-relative folder holding the run's probe folders
        """

    @schema
    class SkullReference(dj.Lookup):
        """Stereotaxic reference points for ``InsertionLocation``."""

        definition = """
        skull_reference      : varchar(60)
        """
        contents = zip(["Bregma", "Lambda"])

    def _archive() -> Path:
        if settings.archive_root is None:
            raise ConfigError("the archive drive is not configured ('custom.ephys_root_data_dir')")
        return settings.archive_root

    def _cup() -> Path:
        if settings.cup_root is None:
            raise ConfigError("the cup drive is not configured ('custom.ephys_root_data_dir')")
        return settings.cup_root

    def get_ephys_root_data_dir() -> list[Path]:
        return ephys_roots(_archive(), _cup())  # a new list every call: the element appends to it

    def get_processed_root_data_dir() -> Path:
        return processed_root(_cup())

    def get_session_directory(session_key: dict) -> str:
        rel = (EphysSession & session_key).fetch1("session_dir")
        return (_archive() / rel).as_posix()

    module = types.ModuleType("brody_assets_ephys_linking")
    module.__dict__.update(
        Subject=rats,
        Session=EphysSession,
        EphysSession=EphysSession,
        SkullReference=SkullReference,
        get_ephys_root_data_dir=get_ephys_root_data_dir,
        get_processed_root_data_dir=get_processed_root_data_dir,
        get_session_directory=get_session_directory,
    )
    return module


@dataclass(frozen=True)
class ActivatedElement:
    """The element's modules bound in this process, and the linking module they use."""

    schemas: EphysSchemas
    probe: types.ModuleType
    ephys: types.ModuleType
    linking: types.ModuleType


def activate_here(settings: Settings) -> ActivatedElement:
    """Declare (if missing) and bind the element's schemas in *this* process.

    Binds DataJoint classes for good (one prefix per process): call it from a child process
    (:func:`ensure_element`), a benchmark, or a process dedicated to one prefix.
    """
    import datajoint as dj

    dj.config.update(settings.datajoint_config())
    connection = dj.conn(reset=True)
    from brody_assets.migration.schemas import activate

    names = EphysSchemas(settings.new_prefix)
    lock = f"brody_ephys_declare:{settings.new_prefix}"[:64]
    (got,) = connection.query("SELECT GET_LOCK(%s, %s)", args=(lock, LOCK_TIMEOUT_S)).fetchone()
    if got != 1:
        raise RuntimeError(f"could not take lock {lock!r} in {LOCK_TIMEOUT_S}s: another declaration runs")
    try:
        tables = activate(connection, settings.new_prefix, settings.shadow_prefix)
        linking = build_linking_module(
            connection, settings, tables.new("subject", "Rats"), tables.new("acquisition", "Sessions")
        )
        from element_array_ephys import ephys_chronic, probe  # heavy; sets native blobs

        ephys_chronic.activate(names.ephys, names.probe, linking_module=linking)
        ephys_chronic.ClusteringMethod.insert(EXTRA_METHODS, skip_duplicates=True)
        ephys_chronic.ClusterQualityLabel.insert(EXTRA_LABELS, skip_duplicates=True)
    finally:
        connection.query("SELECT RELEASE_LOCK(%s)", args=(lock,))
    return ActivatedElement(names, probe, ephys_chronic, linking)


# --- declaration from any process ----------------------------------------------------------------------


def _connect(db: DatabaseSettings):
    import pymysql

    return pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password.reveal(),
                           autocommit=True, **db.tls_options())


def element_declared(settings: Settings) -> bool:
    """True when every table of :data:`TABLES` exists and the two extra lookup rows are there."""
    names = EphysSchemas(settings.new_prefix)
    conn = _connect(settings.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA IN (%s, %s, %s)",
                (names.link, names.probe, names.ephys),
            )
            present = set(cursor.fetchall())
            wanted = {(getattr(names, schema), table) for schema, table in TABLES.values()}
            if not wanted <= present:
                return False
            cursor.execute(
                f"SELECT (SELECT COUNT(*) FROM {names.table('ClusteringMethod')} "
                "WHERE clustering_method = 'kilosort4') + "
                f"(SELECT COUNT(*) FROM {names.table('ClusterQualityLabel')} "
                "WHERE cluster_quality_label = 'unsorted')"
            )
            return cursor.fetchone()[0] == 2
    finally:
        conn.close()


def ensure_element(settings: Settings) -> EphysSchemas:
    """Make sure the element's tables exist under ``settings.new_prefix``; declares them (and any
    missing migrated table they hang off) in a child process when they do not."""
    if not element_declared(settings):
        declare_in_child(settings)
    return EphysSchemas(settings.new_prefix)


def declare_in_child(settings: Settings) -> None:
    """Run :func:`activate_here` in a child process; the password travels in a 0600 temp file."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        os.chmod(handle.name, 0o600)
        json.dump({"password": settings.database.password.reveal()}, handle)
    db = settings.database
    args = {"host": db.host, "port": db.port, "user": db.user, "tls": db.use_tls,
            "new": settings.new_prefix, "shadow": settings.shadow_prefix,
            "archive": str(settings.archive_root) if settings.archive_root else None,
            "cup": str(settings.cup_root) if settings.cup_root else None}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "brody_assets.ephys.element", json.dumps(args), handle.name],
            capture_output=True, text=True, timeout=LOCK_TIMEOUT_S + 300,
        )
    finally:
        os.unlink(handle.name)
    if result.returncode != 0:
        raise RuntimeError(f"declaring the ephys element's tables failed: {result.stderr[-3000:]}")


def _main(argv: list[str]) -> None:
    args = json.loads(argv[0])
    with open(argv[1]) as handle:
        password = json.load(handle)["password"]
    db = DatabaseSettings(args["host"], args["port"], args["user"], Secret(password), args["tls"])
    activate_here(Settings(
        database=db, legacy=db, new_prefix=args["new"], shadow_prefix=args["shadow"],
        archive_root=Path(args["archive"]) if args["archive"] else None,
        cup_root=Path(args["cup"]) if args["cup"] else None,
    ))


if __name__ == "__main__":
    _main(sys.argv[1:])
