"""ml_core.zeroshot: ensembling parity with open_clip, chunked scoring, modes, thresholds, cache."""
import numpy as np
import pytest
import torch
from PIL import Image

from ml_core.zeroshot import (IMAGENET_TEMPLATES, SHORT_TEMPLATES, LogisticProbe, TagMatrixCache, TagText,
                              distribution_threshold, f1_threshold, predict, resolve_templates, score, select,
                              tag_matrix)

SPEC = "random:atelier-demo-clip"


@pytest.fixture(scope="module")
def engine():
    from ml_core.clip import get_engine

    return get_engine(SPEC)


@pytest.fixture(scope="module")
def images(engine):
    from ml_core.synth.render import render
    from ml_core.synth.sampling import scene_at

    pixels = torch.stack([engine.preprocess(Image.fromarray(render(scene_at(0, i, "all", "single"), 64)))
                          for i in range(12)])
    return engine.encode_pixels(pixels)


def unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_templates():
    assert len(IMAGENET_TEMPLATES) == 80 == len(set(IMAGENET_TEMPLATES))
    assert len(SHORT_TEMPLATES) == 18 and set(SHORT_TEMPLATES) <= set(IMAGENET_TEMPLATES)
    assert resolve_templates(None) == SHORT_TEMPLATES
    with pytest.raises(ValueError):
        resolve_templates(["no placeholder"])
    with pytest.raises(ValueError):
        resolve_templates("nope")


@pytest.mark.parametrize("templates", [SHORT_TEMPLATES, ("a photo of a {}.", "itap of the {}.")])
def test_predictions_agree_with_open_clip_zero_shot_classifier(engine, images, templates):
    from open_clip import build_zero_shot_classifier
    from ml_core.synth.vocab import COLOUR_NAMES, SHAPE_NAMES

    for classnames in (list(COLOUR_NAMES), list(SHAPE_NAMES)):
        reference = build_zero_shot_classifier(engine.model, engine.tokenizer, classnames, list(templates))
        ref_pred = (torch.from_numpy(images) @ reference).argmax(dim=1).numpy()
        ours = tag_matrix(lambda t: engine.encode_texts(t, use_cache=False), classnames, templates)
        assert np.allclose(ours, reference.T.numpy(), atol=1e-5)
        assert (predict(images, ours) == ref_pred).all()  # 100 % agreement
        probs = score(images, ours, mode="exclusive", top_k=1)
        assert (probs.indices[:, 0] == ref_pred).all()


def test_synonyms_join_the_ensemble(engine):
    enc = engine.encode_texts
    both = tag_matrix(enc, [TagText("red", ("crimson",))], ["a {}."])[0]
    a, b = enc(["a red."])[0], enc(["a crimson."])[0]
    expected = (a + b) / np.linalg.norm(a + b)
    assert np.allclose(both, expected, atol=1e-6)


def test_chunked_scores_equal_the_full_product_and_top_k():
    rng = np.random.default_rng(0)
    x, t = unit(rng, 1000, 32), unit(rng, 40, 32)
    full = x @ t.T
    assert np.allclose(score(x, t, chunk=77), full, atol=1e-6)
    top = score(x, t, chunk=64, top_k=5)
    assert (top.indices == np.argsort(-full, axis=1)[:, :5]).all()
    probs = score(x, t, mode="exclusive", chunk=50)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    e = np.exp(100 * full - (100 * full).max(axis=1, keepdims=True))
    assert np.allclose(probs, e / e.sum(axis=1, keepdims=True), atol=1e-5)


def test_select_modes():
    rng = np.random.default_rng(1)
    x, t = unit(rng, 300, 16), unit(rng, 6, 16)
    full = x @ t.T
    thr = np.full(6, 0.3, np.float32)
    rows, cols, conf, cut = select(x, t, mode="multi", thresholds=thr, chunk=31)
    assert set(zip(rows.tolist(), cols.tolist())) == set(zip(*np.nonzero(full >= 0.3)))
    assert np.allclose(conf, full[rows, cols]) and (cut == 0.3).all()
    rows, cols, conf, _ = select(x, t, mode="exclusive", min_prob=0.9)
    assert (conf >= 0.9).all() and (cols == full[rows].argmax(axis=1)).all()


def test_thresholds():
    assert distribution_threshold(np.array([0.0, 1.0]), k=1) == pytest.approx(1.0)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = np.array([1, 1, 1, 0, 0, 0], bool)
    assert 0.6 < f1_threshold(scores, labels) < 0.7
    assert f1_threshold(scores, np.ones(6, bool)) is None
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 8))
    y = x[:, 0] + 0.1 * rng.normal(size=200) > 0
    probe = LogisticProbe().fit(x, y)
    assert ((probe.predict_proba(x) > 0.5) == y).mean() > 0.95


def test_cache_builds_once_per_version():
    cache = TagMatrixCache(maxsize=2)
    calls = []
    build = lambda: calls.append(1) or np.zeros((1, 1))  # noqa: E731
    cache.get_or_build(("m", 1, 1), build)
    cache.get_or_build(("m", 1, 1), build)
    cache.get_or_build(("m", 1, 2), build)
    assert len(calls) == 2


def test_eval_tagging_runs_and_prints_json(capsys):
    import json

    from ml_core.eval.__main__ import main

    assert main(["tagging", "--model", SPEC, "--n", "8", "--pool", "24", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["colour"]) == {"zero_shot_accuracy", "probe_accuracy_5", "probe_accuracy_20", "probe_accuracy_100"}
    assert {"default", "f1_cutoff_100", "probe_100"} <= set(result["multi"])
    assert 0 <= result["shape"]["zero_shot_accuracy"] <= 1
