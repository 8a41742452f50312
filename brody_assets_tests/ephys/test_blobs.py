"""Our DataJoint blob packer writes DataJoint's own uncompressed bytes."""

import numpy as np
import pytest
from datajoint.blob import pack, unpack

from brody_assets.ephys.blobs import numeric_header, pack_numeric


@pytest.mark.parametrize("array", [
    np.random.default_rng(0).normal(size=150_000).astype(np.float32),  # an LFP trace
    np.arange(9, dtype=np.float64) / 7,  # LFP time stamps
    np.arange(12, dtype=np.float32).reshape(3, 4),  # 2-D: Fortran order, as DataJoint
    np.arange(-5, 5, dtype=np.int16),
    np.array([7], dtype=np.uint64),
    np.array([True, False]),
])
def test_bytes_equal_datajoints_and_unpack_to_the_same_array(array):
    packed = pack_numeric(array)
    assert packed == pack(array, compress=False)
    back = unpack(packed)
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_a_memmap_row_packs_like_the_array(tmp_path):
    store = np.lib.format.open_memmap(tmp_path / "lfp.npy", mode="w+", dtype=np.float32, shape=(3, 1000))
    store[1] = np.linspace(-1, 1, 1000)
    assert pack_numeric(store[1]) == pack(np.array(store[1]), compress=False)


@pytest.mark.parametrize("value", [np.float32(1.5), np.array(2.0), np.array([1 + 2j]), np.array(["a"]),
                                   np.array(["2026-01-01"], dtype="datetime64[D]")])
def test_what_it_does_not_pack_is_refused(value):
    with pytest.raises(TypeError, match="real numeric arrays"):
        pack_numeric(value)


def test_the_header_then_the_values_is_the_blob():
    """What a streamed LFP row sends: numeric_header, then the values; DataJoint reads it back."""
    trace = np.random.default_rng(2).normal(size=12_345).astype(np.float32)
    streamed = numeric_header(trace.dtype, trace.shape) + trace.tobytes()
    assert streamed == pack_numeric(trace) == pack(trace, compress=False)
    assert np.array_equal(unpack(streamed), trace)
    with pytest.raises(TypeError, match="real numeric arrays"):
        numeric_header(np.complex64, (3,))
