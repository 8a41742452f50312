"""Steps ``probe_insertion`` (``Probe``, ``ProbeInsertion``) and ``ephys_recording``
(``EphysSession``, ``ElectrodeConfig``, ``EphysRecording`` + ``EphysFile``)."""

from __future__ import annotations

from brody_assets.ephys.errors import EphysInputError, RecordingError
from brody_assets.ephys.ingest.context import EphysContext, Partition
from brody_assets.ephys.ingest.rows import (
    StepResult,
    electrode_config,
    electrode_map,
    insert_rows,
    select_by_key,
    table_step,
)


class ProbeChangedError(EphysInputError):
    """A recording's probe serial differs from the one already inserted for that rat and insertion."""


def insert_probe_insertion(ctx: EphysContext, part: Partition) -> StepResult:
    """``Probe`` (if new) and ``ProbeInsertion`` (rat, imec index). A different serial already
    inserted for this rat and insertion is an error naming both (P23)."""
    rec, m = part.recording, part.match
    with table_step(ctx, "probe_insertion") as result:
        known = ctx.query(f"SELECT probe_type FROM {ctx.t('Probe')} WHERE probe = %s", (rec.serial,))
        if known and known[0][0] != rec.probe_type:
            raise ProbeChangedError(rec.ap_meta, f"probe {rec.serial} is a {rec.probe_type} here but "
                                    f"{known[0][0]!r} in the Probe table")
        if not known:
            result.inserted["Probe"] = insert_rows(ctx, "Probe", [{"probe": rec.serial, "probe_type": rec.probe_type,
                                                               "probe_comment": f"first seen in {part.meta_rel}"}])
        insertion = {"ratname": m.ratname, "insertion_number": int(m.insertion_number)}
        have = ctx.query(f"SELECT probe FROM {ctx.t('ProbeInsertion')} WHERE ratname = %s AND "
                         "insertion_number = %s", (m.ratname, int(m.insertion_number)))
        if have and have[0][0] != rec.serial:
            raise ProbeChangedError(
                rec.ap_meta,
                f"rat {m.ratname} insertion {m.insertion_number} (imec{m.insertion_number}) holds probe "
                f"{have[0][0]} in ProbeInsertion, but this recording's probe serial is {rec.serial}: "
                "a changed probe is a new implant — record it under a new insertion number by hand",
            )
        if have:
            result.skipped = f"insertion {m.insertion_number} of {m.ratname} with probe {rec.serial} is already there"
        else:
            result.inserted["ProbeInsertion"] = insert_rows(ctx, "ProbeInsertion", [{**insertion, "probe": rec.serial}])
        result.facts.update(probe_serial=rec.serial, probe_type=rec.probe_type,
                            insertion_number=int(m.insertion_number))
    return result


def insert_ephys_recording(ctx: EphysContext, part: Partition) -> StepResult:
    """``EphysSession``, the electrode config and ``EphysRecording`` + ``EphysFile``."""
    rec, m = part.recording, part.match
    with table_step(ctx, "ephys_recording") as result:
        result.facts.update(sampling_rate=rec.ap_sample_rate, duration_s=rec.duration_s,
                            n_channels=rec.n_saved_channels, electrodes=len(rec.electrodes))
        files = select_by_key(ctx, "file_path", "EphysRecording.EphysFile", part.rec_key)
        if files:
            if files[0][0] != part.meta_rel:
                raise RecordingError(rec.ap_meta, f"run {m.run} probe {m.insertion_number} of session {m.sessid} "
                                     f"is already ingested from {files[0][0]}: a second file set (trigger) of "
                                     "the same run and probe is not supported")
            result.skipped = "EphysRecording of this recording is already there (unchanged: nothing written)"
            return result
        session = {"ratname": m.ratname, "sessid": int(m.sessid), "run": m.run}
        have = select_by_key(ctx, "session_dir", "EphysSession", session)
        if not have:
            result.inserted["EphysSession"] = insert_rows(ctx, "EphysSession", [{**session, "session_dir": part.session_dir}])
        keys = electrode_map(ctx, rec)
        config_hash, name = electrode_config(keys)
        if not ctx.query(f"SELECT 1 FROM {ctx.t('ElectrodeConfig')} WHERE electrode_config_hash = %s",
                         (config_hash.bytes,)):
            result.inserted["ElectrodeConfig"] = insert_rows(ctx, "ElectrodeConfig", [{
                "electrode_config_hash": config_hash, "probe_type": rec.probe_type, "electrode_config_name": name}])
            result.inserted["ElectrodeConfig.Electrode"] = insert_rows(
                ctx, "ElectrodeConfig.Electrode", ({"electrode_config_hash": config_hash, **k} for k in keys))
        result.inserted["EphysRecording"] = insert_rows(ctx, "EphysRecording", [{
            **part.rec_key, "electrode_config_hash": config_hash, "acq_software": "SpikeGLX",
            "sampling_rate": rec.ap_sample_rate, "recording_datetime": rec.recording_datetime,
            "recording_duration": rec.duration_s}])
        result.inserted["EphysRecording.EphysFile"] = insert_rows(
            ctx, "EphysRecording.EphysFile", [{**part.rec_key, "file_path": part.meta_rel}])
        result.facts["electrode_config"] = f"{config_hash} ({name})"
    return result
