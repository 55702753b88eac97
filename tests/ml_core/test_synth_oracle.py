"""The committed oracle checkpoint reads the synthetic world back (real behaviour, fresh scenes)."""
import json
from pathlib import Path

import numpy as np
import pytest

from ml_core.synth import render_batch, scene_at
from ml_core.synth.oracle import DEFAULT_DIR, HEADS, Oracle, accuracy, scene_labels

FRESH_SEED = 424242  # never used in training (seed 0) nor in the recorded evaluation (seed 1000)


@pytest.fixture(scope="module")
def oracle():
    return Oracle.load()


def test_checkpoint_is_committed_small_and_described():
    weights = Path(DEFAULT_DIR) / "oracle.pt"
    assert weights.stat().st_size < 2_000_000
    cfg = json.loads((Path(DEFAULT_DIR) / "config.json").read_text())
    assert cfg["heads"] == {h: list(v) for h, v in HEADS.items()}
    assert cfg["train"]["seed"] == 0 and cfg["train"]["minutes"] <= 10


@pytest.mark.parametrize("kind", ["single", "pair"])
@pytest.mark.parametrize("split", ["all", "heldout"])
def test_oracle_reads_fresh_scenes(oracle, kind, split):
    scenes = [scene_at(FRESH_SEED, i, split, kind) for i in range(300)]
    acc = accuracy(oracle.check(render_batch(scenes, 64), scenes))
    heads = {"layout", "colour", "shape"} | ({"count", "position", "size"} if kind == "single"
                                             else {"colour2", "shape2"})
    assert heads <= set(acc)
    for h in heads:
        assert acc[h] >= 0.99, (h, acc)


def test_oracle_accepts_other_resolutions(oracle):
    scenes = [scene_at(FRESH_SEED + 1, i, "all") for i in range(100)]
    for size in (32, 224):
        acc = accuracy(oracle.check(render_batch(scenes, size), scenes))
        assert acc["all"] >= 0.97, (size, acc)


def test_predict_reads_a_relation(oracle):
    scenes = [scene_at(FRESH_SEED + 2, i, "all", "pair") for i in range(40)]
    for s, pred in zip(scenes, oracle.predict(render_batch(scenes, 64))):
        assert pred == scene_labels(s)
        a, b = s.objects
        if s.relation.predicate == "left of":  # "a <a> to the left of a <b>" reads as first=a, second=b
            assert pred["layout"] == "pair_h" and (pred["colour"], pred["shape"]) == (a.colour, a.shape)
            assert pred["count"] is None and pred["position"] is None


def test_predict_accepts_float_tensors(oracle):
    from ml_core.synth.render import to_tensor
    imgs = render_batch([scene_at(FRESH_SEED, i) for i in range(4)], 64)
    assert oracle.predict(to_tensor(imgs)) == oracle.predict(imgs)
    assert oracle.predict(imgs[0])[0] == oracle.predict(imgs[:1])[0]
