"""Save/load: round trip, atomic replace, and every way a file can be wrong."""
import os

import numpy as np
import pytest

from ml_core.index import IndexCorrupt, IndexLoadError, IndexMissing, IndexPolicy, IndexStale, VectorIndex
from ml_core.index import store


def _unit(n, seed, dim=32):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module", params=["flat", "ivf"])
def index(request):
    policy = IndexPolicy(flat_threshold=10**9 if request.param == "flat" else 500, tune_queries=32)
    return VectorIndex.build(np.arange(3000) + 10, _unit(3000, 0), model_id="clip-b32", policy=policy)


def test_round_trip_keeps_results_and_metadata(index, tmp_path):
    path = tmp_path / "idx" / "photos.faiss"
    size = index.save(path)
    assert size == path.stat().st_size
    loaded = VectorIndex.load(path, model_id="clip-b32", dim=32, expected_count=3000)
    assert (loaded.factory, loaded.nprobe, loaded.model_id, len(loaded)) == \
        (index.factory, index.nprobe, "clip-b32", 3000)
    assert loaded.trained_count == 3000
    q = _unit(3, 1)
    np.testing.assert_array_equal(loaded.search_batch(q, 10).ids, index.search_batch(q, 10).ids)
    assert os.listdir(path.parent) == ["photos.faiss"]  # no temporary files left behind


def test_missing_file(tmp_path):
    with pytest.raises(IndexMissing):
        VectorIndex.load(tmp_path / "nope.faiss")


@pytest.mark.parametrize("expect", [{"model_id": "other"}, {"expected_count": 2999}, {"dim": 64}])
def test_stale_file(index, tmp_path, expect):
    index.save(tmp_path / "i.faiss")
    with pytest.raises(IndexStale):
        VectorIndex.load(tmp_path / "i.faiss", **expect)


def test_unknown_format_version_is_stale(index, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "FORMAT_VERSION", 99)
    index.save(tmp_path / "i.faiss")
    monkeypatch.setattr(store, "FORMAT_VERSION", 1)
    with pytest.raises(IndexStale, match="format version 99"):
        VectorIndex.load(tmp_path / "i.faiss")


def _mangle(path, how):
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    elif how == "flip":
        data[len(data) // 2] ^= 0xFF
    elif how == "header":
        data[20] ^= 0x01
    elif how == "garbage":
        data = bytearray(b"not an index at all" * 10)
    elif how == "empty":
        data = bytearray()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncate", "flip", "header", "garbage", "empty"])
def test_corrupt_file(index, tmp_path, how):
    path = tmp_path / "i.faiss"
    index.save(path)
    _mangle(path, how)
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(path)


def test_all_load_errors_share_a_base_class():
    assert issubclass(IndexMissing, IndexLoadError) and issubclass(IndexCorrupt, IndexLoadError)
    assert issubclass(IndexStale, IndexLoadError)


def test_failed_save_keeps_the_old_file(index, tmp_path, monkeypatch):
    path = tmp_path / "i.faiss"
    index.save(path)
    before = path.read_bytes()

    def boom(*_args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store.faiss, "write_index", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        index.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["i.faiss"]
