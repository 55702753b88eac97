"""Every model runs on the worker's configured device with that device's batch size: the CLIP engine
(embedding, tagging, search), tag scoring and the generation backends. CUDA tests run where a GPU is."""
import numpy as np
import pytest
import torch

from atelier.embeddings import services as embedding_services

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def small_model(settings):
    settings.ATELIER_CLIP_MODEL = "random:atelier-demo-clip"
    settings.ATELIER_EMBED_BATCH = 0
    embedding_services._status.cache_clear()


def test_the_generation_backend_is_built_on_the_requested_device(settings):
    from plugins.generation.backends import AtelierDalleBackend, _backends, builtin_backends

    backend = AtelierDalleBackend(device="meta")
    dalle = backend._dalle()
    assert {p.device.type for p in dalle.model.parameters()} == {"meta"}
    assert {p.device.type for p in dalle.vq.parameters()} == {"meta"}
    settings.ATELIER_DEVICE = "meta"
    _backends.cache_clear()
    try:
        built = builtin_backends()
        assert [b.device for b in built] == ["meta", "meta"]
    finally:
        _backends.cache_clear()


def test_generation_batch_follows_the_device(monkeypatch):
    from plugins.generation.backends import batch_size_on

    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_BATCH_SIZE_CUDA", "48")
    assert (batch_size_on("cpu"), batch_size_on("cuda:0")) == (16, 48)


def test_the_clip_engine_of_every_caller_is_the_worker_device_one(settings):
    from atelier.search.services import _engine as search_engine
    from atelier.tagging.services import _engine as tagging_engine

    settings.ATELIER_DEVICE = "cpu"
    settings.ATELIER_BATCH_SIZES = {"cpu": 40, "cuda": 128}
    engine = embedding_services.worker_engine()
    assert (engine.device.type, engine.batch_size) == ("cpu", 40)
    assert search_engine() is engine and tagging_engine(engine.model_id) is engine


@CUDA
def test_embedding_on_the_gpu(settings, tmp_path):
    from PIL import Image

    settings.ATELIER_DEVICE = "cuda"
    engine = embedding_services.worker_engine()
    assert engine.device.type == "cuda" and engine.batch_size == settings.ATELIER_BATCH_SIZES["cuda"]
    path = tmp_path / "red.png"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(path)
    out = engine.encode_images([path])
    assert out.vectors.shape[0] == 1 and np.isclose(np.linalg.norm(out.vectors[0]), 1, atol=1e-2)


@CUDA
def test_generation_on_the_gpu_under_autocast():
    from plugins.generation.backends import AtelierDalleBackend

    backend = AtelierDalleBackend(device="cuda", batch_size=2)
    images = [c.image for c in backend.generate("two blue squares", count=2, seed=1)]
    assert next(backend._dalle().model.parameters()).is_cuda and [im.size for im in images] == [(64, 64)] * 2
