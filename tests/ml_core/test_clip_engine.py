"""The engine on the (cheap) demo architecture: preprocessing parity with open_clip, draft-mode
decoding, EXIF, per-photo errors, batching, the text cache and the per-process engine cache."""

import threading
import time

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from ml_core.clip import ImageDecodeError, TextEmbeddingCache, clear_engines, create_engine, factory, get_engine
from ml_core.clip.decode import load_image
from ml_core.clip.prefetch import chunked, ordered_prefetch
from ml_core.clip.registry import DEMO_ARCH, register_atelier_configs

SPEC = f"random:{DEMO_ARCH}"


def _atol(engine):
    """Exact fp32 on CPU; fp16 autocast on CUDA changes the last digits."""
    return 1e-5 if engine.device.type == "cpu" else 5e-3


@pytest.fixture(scope="module")
def engine():
    return create_engine(SPEC, batch_size=4, text_cache=TextEmbeddingCache(16))


@pytest.fixture(scope="module")
def big_jpeg(make_photo, to_jpeg):
    """A real-size photo (2000x1500, 3 MP) as JPEG bytes."""
    return to_jpeg(make_photo(2000, 1500, seed=7))


def test_engine_basics(engine):
    assert engine.model_id == SPEC and engine.embed_dim == 128 and engine.image_size == 64
    assert not engine.model.training
    assert engine.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_preprocess_is_open_clip_val_transform(engine, make_photo):
    register_atelier_configs()
    _, _, open_clip_val = open_clip.create_model_and_transforms(DEMO_ARCH)
    photo = make_photo(300, 200, seed=1)
    assert torch.equal(engine.preprocess_image(photo), open_clip_val(photo))


def test_small_jpeg_path_is_decoded_exactly(engine, make_photo, tmp_path):
    """Draft mode never kicks in when the file is not at least twice the model input."""
    path = tmp_path / "small.jpg"
    make_photo(120, 100, seed=2).save(path, quality=90)
    with Image.open(path) as image:
        assert torch.equal(engine.preprocess_image(path), engine.preprocess(image.convert("RGB")))


def test_vectors_are_unit_float32_and_batch_independent(engine, make_photo, to_jpeg):
    images = [to_jpeg(make_photo(160, 120, seed=s)) for s in range(7)]
    by_four = engine.encode_images(images)
    by_three = engine.encode_images(images, batch_size=3)
    assert by_four.vectors.dtype == np.float32 and by_four.vectors.shape == (7, 128)
    np.testing.assert_allclose(np.linalg.norm(by_four.vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(by_four.vectors, by_three.vectors, atol=_atol(engine))
    assert by_four.model_id == engine.model_id
    single = engine.encode_images([images[5]]).vectors[0]
    np.testing.assert_allclose(by_four.vectors[5], single, atol=_atol(engine))


def test_bad_files_are_per_item_errors(engine, make_photo, to_jpeg, tmp_path):
    good = to_jpeg(make_photo(160, 120))
    truncated = good[: len(good) // 2]
    text_file = tmp_path / "notes.jpg"
    text_file.write_text("not an image")
    inputs = [good, b"garbage", truncated, text_file, tmp_path / "missing.jpg", make_photo(100, 90), 42]
    result = engine.encode_images(inputs)
    assert set(result.errors) == {1, 2, 3, 4, 6}
    assert result.ok.tolist() == [True, False, False, False, False, True, False]
    assert "notes.jpg" in result.errors[3] and "missing.jpg" in result.errors[4]
    assert "TypeError" in result.errors[6] and "UnidentifiedImageError" in result.errors[1]
    with pytest.raises(ImageDecodeError, match="truncated"):
        engine.load_image(truncated)
    assert not result.vectors[~result.ok].any()
    np.testing.assert_allclose(np.linalg.norm(result.vectors[result.ok], axis=1), 1.0, atol=1e-5)


def test_exif_orientation_is_applied(engine, make_photo, to_jpeg):
    upright = make_photo(200, 300, seed=4)  # portrait
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a phone writes: landscape pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = to_jpeg(stored, quality=95, exif=exif.tobytes())
    assert load_image(data).size == (200, 300)
    vectors = engine.encode_images([data, to_jpeg(upright, quality=95)]).vectors
    assert float(vectors[0] @ vectors[1]) > 0.99


def test_draft_decoding_reduces_the_image_and_stays_close(engine, big_jpeg):
    drafted = load_image(big_jpeg, min_size=224)
    assert min(drafted.size) >= 224 and drafted.size[0] < 2000  # reduced, never below the input
    assert min(load_image(big_jpeg, min_size=engine.image_size).size) >= engine.image_size
    full = load_image(big_jpeg)
    assert full.size == (2000, 1500)
    vitb32_val = open_clip.image_transform(224, is_train=False)
    assert (vitb32_val(drafted) - vitb32_val(full)).abs().mean() < 0.02
    fast, exact = engine.encode_pixels(torch.stack([engine.preprocess_image(big_jpeg),
                                                    engine.preprocess(full)]))
    assert float(fast @ exact) > 0.99

    # what draft mode saves in decode time is measured by bench/embed.py, not asserted here


def test_text_embeddings_and_cache(make_photo):
    cache = TextEmbeddingCache(max_entries=2)
    engine = create_engine(SPEC, text_cache=cache)
    first = engine.encode_text("a red bicycle")
    assert cache.hits == 0 and len(cache) == 1
    again = engine.encode_text("a red bicycle")
    assert cache.hits == 1
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(engine.encode_texts(["a red bicycle"], use_cache=False)[0], first,
                               atol=_atol(engine))
    batch = engine.encode_texts(["x", "y", "x"])
    np.testing.assert_array_equal(batch[0], batch[2])
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert len(cache) == 2  # LRU bound: "a red bicycle" was evicted
    assert cache.get(engine.model_id, "a red bicycle") is None
    assert cache.get("another-model", "x") is None  # keyed by model_id too
    with pytest.raises(ValueError):
        cache.get(engine.model_id, "x")[0] = 1.0  # cached vectors are read-only


def test_get_engine_loads_once_across_threads(monkeypatch):
    clear_engines()
    calls = []
    real_load = factory.load_model

    def counting_load(*args, **kwargs):
        calls.append(1)
        time.sleep(0.2)  # widen the race window
        return real_load(*args, **kwargs)

    monkeypatch.setattr(factory, "load_model", counting_load)
    results = []
    threads = [threading.Thread(target=lambda: results.append(get_engine(SPEC))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len({id(e) for e in results}) == 1
    assert get_engine(f"  {SPEC} ") is results[0]
    clear_engines()


def test_embed_dim_of_reads_the_config_and_builds_no_model(monkeypatch, tmp_path):
    from ml_core.clip import embed_dim_of

    sizes = {spec: get_engine(spec).embed_dim for spec in (SPEC, "demo")}
    folder = tmp_path / "checkpoint"  # a config beside (unreadable) weights: only the config is read
    folder.mkdir()
    (folder / "open_clip_config.json").write_text('{"model_cfg": {"embed_dim": 64}}')
    (folder / "open_clip_model.safetensors").write_bytes(b"not read")
    monkeypatch.setattr(factory, "load_model", lambda *a, **k: pytest.fail("a model was built"))
    assert {spec: embed_dim_of(spec) for spec in sizes} == sizes == {SPEC: 128, "demo": 128}
    assert embed_dim_of("random:ViT-B-32") == 512 and embed_dim_of("random:ViT-L-14") == 768
    assert embed_dim_of(f"file:{folder}") == 64
    assert embed_dim_of(f"file:{folder}/open_clip_model.safetensors?arch=ViT-B-32") == 512
    clear_engines()


def test_prefetch_is_ordered_bounded_and_isolates_errors():
    in_flight, peak, lock = [0], [0], threading.Lock()

    def work(i):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.002 * (i % 3))
        if i == 5:
            raise ValueError("bad item")
        return i * i

    outcomes = []
    for outcome in ordered_prefetch(work, range(20), workers=3, ahead=4):
        with lock:
            in_flight[0] -= 1
        outcomes.append(outcome)
    assert [o.index for o in outcomes] == list(range(20))
    assert [o.value for o in outcomes if o.index != 5] == [i * i for i in range(20) if i != 5]
    assert isinstance(outcomes[5].error, ValueError)
    assert peak[0] <= 5
    assert [len(c) for c in chunked(outcomes, 8)] == [8, 8, 4]
    assert [len(c) for c in chunked(outcomes, 8, first=2)] == [2, 8, 8, 2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fp16_autocast_agrees_with_cpu(make_photo, to_jpeg):
    gpu = create_engine(SPEC, device="cuda")
    cpu = create_engine(SPEC, device="cpu")
    images = [to_jpeg(make_photo(400, 300, seed=s)) for s in range(5)]
    texts = ["a dog", "two red cars on a road"]
    for a, b in [(gpu.encode_images(images).vectors, cpu.encode_images(images).vectors),
                 (gpu.encode_texts(texts, use_cache=False), cpu.encode_texts(texts, use_cache=False))]:
        assert a.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
        assert np.min(np.sum(a * b, axis=1)) > 0.999


def test_decoding_overlaps_the_forward_pass(make_photo, to_jpeg):
    """While the model runs batch k, worker threads already decode batch k+1.

    Proved without timing: the first forward pass and one later decode must meet at a barrier, so
    both are running at once. A pipeline that decodes and runs the model in turn never meets it,
    and the barrier breaks after its timeout.
    """
    engine = create_engine(SPEC, batch_size=4)
    meeting = threading.Barrier(2, timeout=20)
    lock, claimed, decode_threads, forwards = threading.Lock(), [], [], []
    transform, forward = engine.preprocess, engine.encode_pixels

    def recording_transform(image):
        first_photo = image.size[0] == image.size[1]  # photo 0 is square; the forward pass needs it
        with lock:
            decode_threads.append(threading.current_thread().name)
            meets_the_forward = not first_photo and not claimed
            if meets_the_forward:
                claimed.append(True)
        if meets_the_forward:
            meeting.wait()
        return transform(image)

    def recording_forward(pixels):
        if not forwards:
            meeting.wait()
        forwards.append(len(pixels))
        return forward(pixels)

    engine.preprocess, engine.encode_pixels = recording_transform, recording_forward
    photos = [make_photo(200, 200 if s == 0 else 150, seed=s) for s in range(12)]
    batches = list(engine.iter_image_batches([to_jpeg(p) for p in photos]))
    # a short first batch gets the model going early, then full batches
    assert [b.indices.tolist() for b in batches] == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11]]
    assert all(b.model_id == engine.model_id and not b.errors for b in batches)
    assert forwards == [1, 4, 4, 3] and claimed == [True] and not meeting.broken
    assert len(decode_threads) == 12 and all(name.startswith("clip-decode") for name in decode_threads)
