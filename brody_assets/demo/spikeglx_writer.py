"""Write SpikeGLX file sets (``.ap``/``.lf`` ``.bin`` + ``.meta``) for a Neuropixels 1.0 probe.

Only what the two readers we depend on need (element-array-ephys 0.2.11's ``SpikeGLXMeta`` and
neo/spikeinterface's ``read_spikeglx``; see ``shared/spec/stack.md`` and ``ephys.md`` §6.1),
laid out the way SpikeGLX 2019–2020 wrote it: 384 neural channels of bank 0 plus one sync
channel, int16, interleaved, gains 500 (AP) / 250 (LF), no ``imDatPrb_dock`` (NP 2.0 only).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

N_NEURAL = 384
N_SAVED = N_NEURAL + 1  # + SY0
AP_GAIN = 500
LF_GAIN = 250
AI_RANGE_MAX = 0.6
IMAX = 512
AP_UV_PER_BIT = AI_RANGE_MAX / IMAX / AP_GAIN * 1e6  # 2.34375
LF_UV_PER_BIT = AI_RANGE_MAX / IMAX / LF_GAIN * 1e6  # 4.6875
LF_DECIMATION = 12  # SpikeGLX's LF band is the AP clock / 12
SYNC_BIT_VALUE = 64  # bit 6 of SY0 carries the 1 Hz sync square wave on NP 1.0


NP1_EDGE_OFFSET_UM = 11.0  # shank edge to the leftmost site column


def np1_positions() -> np.ndarray:
    """(384, 2) x/y in µm of bank-0 sites, staggered NP 1.0 geometry exactly as probeinterface
    builds it from the ``~imroTbl`` (x from the leftmost column: 16/48 on even rows, 0/32 odd)."""
    ch = np.arange(N_NEURAL)
    row, col = ch // 2, ch % 2
    x = np.where(row % 2 == 0, 16.0, 0.0) + 32.0 * col
    return np.column_stack([x, 20.0 * row])


def _imro_table() -> str:
    # (probe type 0 = NP 1.0 3B, channel count)(channel bank refid apgain lfgain aphipass)
    return "(0,384)" + "".join(f"({c} 0 0 {AP_GAIN} {LF_GAIN} 1)" for c in range(N_NEURAL))


def _chan_map(prefix: str, first_acq: int) -> str:
    # (AP, LF, SY counts)(name;acquisition index:user order)
    body = "".join(f"({prefix}{c};{first_acq + c}:{first_acq + c})" for c in range(N_NEURAL))
    return f"(384,384,1){body}(SY0;768:768)"


def _shank_map() -> str:
    # (shanks, columns, rows)(shank:col:row:used), bank 0 = rows 0..191
    return "(1,2,480)" + "".join(f"(0:{c % 2}:{c // 2}:1)" for c in range(N_NEURAL))


def _geom_map() -> str:
    # What SpikeGLX >= 20230202 writes instead of ~snsShankMap: (pn,shanks,shank_sep,width)(s:x:z:used)
    pos = np1_positions()
    return "(NP1000,1,0,70)" + "".join(f"(0:{x + NP1_EDGE_OFFSET_UM:g}:{y:g}:1)" for x, y in pos)


def build_meta(
    *,
    band: str,
    file_name: str,
    n_samples: int,
    sample_rate: float,
    serial: str,
    probe_index: int,
    created: dt.datetime,
    geom_map: bool = False,
) -> dict[str, str]:
    """Return the ``key -> value`` fields of one ``.meta`` file, in SpikeGLX's (alphabetical) order.

    ``file_name`` is the original acquisition-machine path SpikeGLX records in ``fileName``;
    ``geom_map`` writes ``~snsGeomMap`` instead of ``~snsShankMap`` (SpikeGLX >= 20230202).
    """
    if band not in ("ap", "lf"):
        raise ValueError(f"band must be 'ap' or 'lf', not {band!r}")
    meta = {
        "acqApLfSy": "384,384,1",
        "appVersion": "20190724",
        "fileCreateTime": created.strftime("%Y-%m-%dT%H:%M:%S"),
        "fileName": file_name,
        "fileSizeBytes": str(n_samples * N_SAVED * 2),
        "fileTimeSecs": f"{n_samples / sample_rate:.6f}",
        "firstSample": "0",
        "gateMode": "Immediate",
        "imAiRangeMax": f"{AI_RANGE_MAX:g}",
        "imAiRangeMin": f"{-AI_RANGE_MAX:g}",
        "imDatPrb_pn": "NP1000",
        "imDatPrb_port": str(probe_index + 1),
        "imDatPrb_slot": "2",
        "imDatPrb_sn": serial,
        "imDatPrb_type": "0",
        "imSampRate": f"{sample_rate:.6f}".rstrip("0").rstrip("."),
        "nDataDirs": "1",
        "nSavedChans": str(N_SAVED),
        "snsApLfSy": "384,0,1" if band == "ap" else "0,384,1",
        "snsSaveChanSubset": "all" if band == "ap" else "384:768",
        "syncSourceIdx": "0",
        "syncSourcePeriod": "1",
        "trigMode": "Immediate",
        "typeImEnabled": "1",
        "typeNiEnabled": "0",
        "typeThis": "imec",
        "userNotes": "",
        "~imroTbl": _imro_table(),
        "~snsChanMap": _chan_map("AP" if band == "ap" else "LF", 0 if band == "ap" else 384),
    }
    if geom_map:
        meta["appVersion"] = "20230425"  # SpikeGLX 20230202 and later write ~snsGeomMap
        meta["~snsGeomMap"] = _geom_map()
    else:
        meta["~snsShankMap"] = _shank_map()
    return meta


def write_meta(path: Path, meta: dict[str, str]) -> None:
    """Write the fields as ``key=value`` lines."""
    path.write_text("".join(f"{k}={v}\n" for k, v in meta.items()), encoding="ascii")


def sync_trace(n_samples: int, sample_rate: float, start: int = 0) -> np.ndarray:
    """SY0 word: bit 6 high during the first half of every second (SpikeGLX's 1 Hz sync pulse)."""
    t = (np.arange(start, start + n_samples) / sample_rate) % 1.0
    return np.where(t < 0.5, SYNC_BIT_VALUE, 0).astype(np.int16)


def write_bin(path: Path, neural: np.ndarray, sync: np.ndarray) -> int:
    """Write (samples, 384) int16 neural data plus the sync column interleaved; return bytes written."""
    if neural.ndim != 2 or neural.shape[1] != N_NEURAL or neural.dtype != np.int16:
        raise ValueError(
            f"neural must be int16 (samples, {N_NEURAL}), got {neural.dtype} {neural.shape}"
        )
    frame = np.empty((neural.shape[0], N_SAVED), dtype="<i2")
    frame[:, :N_NEURAL] = neural
    frame[:, N_NEURAL] = sync
    frame.tofile(path)
    return frame.nbytes
