"""ml_core.synth: the procedural world (scenes, pixels, captions, splits, negatives, datasets, export)."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ml_core.synth import (HELDOUT_PAIRS, Scene, SynthDataset, SynthStream, captions, collate,
                           render, render_batch, scene_at, scene_rng, swap_colours_caption,
                           swap_relation_caption, variant, variants, vocab_export)
from ml_core.synth.__main__ import main
from ml_core.synth.captions import canonical_caption
from ml_core.synth.negatives import factors_for
from ml_core.synth.oracle import scene_labels
from ml_core.synth.scene import Background, Obj
from ml_core.synth.vocab import (BACKGROUNDS, COLOUR_NAMES, COLOUR_WORDS, COLOURS, COUNT_WORDS,
                                 RELATION_PHRASES, SHAPE_NAMES, SHAPE_WORDS, WITH_PHRASES)

REPO = Path(__file__).resolve().parents[2]


def one(shape="circle", colour="red", size="large", x=0.5, y=0.5, bg="grey") -> Scene:
    return Scene("single", (Obj(shape, colour, size, x, y),), Background("plain", bg), 1, "centre")


# -- determinism ---------------------------------------------------------------------------------
def test_same_seed_same_scene_and_pixels():
    for i in range(20):
        a, b = scene_at(3, i), scene_at(3, i)
        assert a == b and a.to_json() == b.to_json()
        assert np.array_equal(render(a, 64), render(b, 64))


def test_different_seed_or_index_differs():
    a = render_batch([scene_at(0, i) for i in range(10)], 32)
    b = render_batch([scene_at(1, i) for i in range(10)], 32)
    assert all(not np.array_equal(x, y) for x, y in zip(a, b))
    assert scene_at(0, 0) != scene_at(0, 1)


def test_json_round_trip():
    for i in range(30):
        s = scene_at(0, i)
        back = Scene.from_json(s.to_json())
        assert back == s and json.loads(s.to_json())["objects"][0]["bbox"]


# -- rendering -----------------------------------------------------------------------------------
def _mask(scene, size=64):
    bg = np.asarray(BACKGROUNDS[scene.background.colour])
    return np.abs(render(scene, size).astype(int) - bg).sum(-1) > 60


def test_every_shape_renders_and_is_distinguishable():
    masks = {s: _mask(one(shape=s)) for s in SHAPE_NAMES}
    for s, m in masks.items():
        assert 0.02 < m.mean() < 0.1, s
    for i, a in enumerate(SHAPE_NAMES):
        for b in SHAPE_NAMES[i + 1:]:
            iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
            assert iou < 0.9, (a, b, iou)  # the oracle test shows they are told apart


def test_every_colour_renders_true_and_away_from_backgrounds():
    for c in COLOUR_NAMES:
        px = render(one(colour=c), 64)[32, 32].astype(int)
        nearest = min(COLOURS, key=lambda k: np.abs(np.asarray(COLOURS[k]) - px).sum())
        assert nearest == c
        assert min(np.abs(np.asarray(v) - px).sum() for v in BACKGROUNDS.values()) > 120


@pytest.mark.parametrize("size", [32, 64, 224, 256])
def test_any_resolution(size):
    s = scene_at(0, 5)
    img = render(s, size)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    small = render(s, 32).astype(float)
    down = np.asarray(Image.fromarray(img).resize((32, 32), Image.BOX)).astype(float)
    assert np.abs(small - down).mean() < 6  # same scene, only resolution differs


def test_object_centre_lands_where_the_scene_says():
    for x, y in [(0.25, 0.5), (0.75, 0.3)]:
        m = _mask(one(x=x, y=y), 128)
        ys, xs = np.nonzero(m)
        assert abs(xs.mean() / 128 - x) < 0.03 and abs(ys.mean() / 128 - y) < 0.03


# -- held-out split ------------------------------------------------------------------------------
def test_heldout_pairs_documented_shape():
    assert len(HELDOUT_PAIRS) == 8
    assert {c for c, _ in HELDOUT_PAIRS} == set(COLOUR_NAMES)
    assert {s for _, s in HELDOUT_PAIRS} == set(SHAPE_NAMES)
    assert sorted(map(list, HELDOUT_PAIRS)) == vocab_export()["heldout_pairs"]


def test_train_split_never_uses_heldout_and_heldout_always_does():
    train = [scene_at(0, i, "train") for i in range(1500)]
    assert not any(s.uses_heldout() for s in train)
    held = [scene_at(0, i, "heldout") for i in range(500)]
    assert all(s.uses_heldout() for s in held)
    assert {s.kind for s in held} == {"single", "pair"}
    assert {p for s in held for p in s.combos()} >= set(HELDOUT_PAIRS)


def test_vocab_exports_cover_every_label():
    from ml_core.synth import zero_shot_prompts
    v, z = vocab_export(), zero_shot_prompts()
    assert v["colours"] == list(COLOUR_NAMES) and v["shapes"] == list(SHAPE_NAMES)
    assert len(v["colours"]) >= 8 and len(v["shapes"]) >= 8
    assert [c["count"] for c in v["counts"]] == [1, 2, 3]
    assert {p["position"] for p in v["positions"]} == {"left", "right", "top", "bottom", "centre"}
    assert list(z["colour"]) == list(COLOUR_NAMES) and z["shape"]["hexagon"] == "a photo of a hexagon"
    assert json.loads(json.dumps(v)) == v


# -- captions ------------------------------------------------------------------------------------
def _mentions(text, options):
    return any(o in text for o in options)


def test_captions_mention_the_right_attributes():
    for i in range(300):
        s = scene_at(0, i, "all")
        caps = captions(s, scene_rng(0, i, "all", 1), 6)
        assert len(set(caps)) == len(caps) >= 3
        for c in caps:
            for o in s.objects:
                assert _mentions(c, COLOUR_WORDS[o.colour]), (c, o)
                assert _mentions(c, [w for pair in SHAPE_WORDS[o.shape] for w in pair]), (c, o)
            if s.kind == "single" and s.count > 1:
                assert _mentions(c, COUNT_WORDS[s.count]), c
            if s.kind == "pair":
                phrases = [p for ps in RELATION_PHRASES.values() for p in ps] + list(WITH_PHRASES.values())
                assert _mentions(c, phrases), c


def test_canonical_captions():
    s = Scene("pair", (Obj("circle", "red", "small", 0.28, 0.5), Obj("square", "blue", "large", 0.72, 0.5)),
              Background("plain", "white"), 2, relation=scene_at(0, 2).relation)
    s = replace(s, relation=replace(s.relation, predicate="left of"))
    assert canonical_caption(s) == "a red circle to the left of a blue square"
    assert swap_relation_caption(s) == "a blue square to the left of a red circle"
    assert swap_colours_caption(s) == "a blue circle to the left of a red square"
    three = Scene("single", (Obj("triangle", "green", "small", .5, .2),) * 3, Background("plain", "white"), 3, "top")
    assert canonical_caption(three) == "three green triangles at the top"
    assert canonical_caption(one(colour="orange")) == "an orange circle in the centre"


# -- hard negatives ------------------------------------------------------------------------------
def _truth(s):
    """Every factor of a scene, as the oracle labels plus sizes and relation."""
    d = dict(scene_labels(s))
    d["size"] = frozenset(o.size for o in s.objects)  # sets: a count change adds copies only
    d["shape"] = frozenset(o.shape for o in s.objects)
    d["colour"] = frozenset(o.colour for o in s.objects)
    d["relation"] = s.relation.predicate if s.relation else None
    return d


FACTOR_KEYS = {"shape": {"shape", "shape2"}, "colour": {"colour", "colour2"}, "size": {"size"},
               "position": {"position"}, "count": {"count"}, "relation": {"relation", "layout"}}


def test_variants_differ_in_exactly_the_named_factor():
    rng = np.random.default_rng(0)
    for i in range(120):
        s = scene_at(0, i, "train")
        vs = variants(s, rng, split="train")
        assert set(vs) == set(factors_for(s))
        for factor, v in vs.items():
            assert v.background == s.background
            assert not v.uses_heldout()
            a, b = _truth(s), _truth(v)
            changed = {k for k in a if a[k] != b[k]}
            if factor == "relation":  # objects swap places: the left/top reading order swaps too
                changed -= {"colour2", "shape2"}
            assert changed and changed <= FACTOR_KEYS[factor], (factor, changed)
            assert not np.array_equal(render(s, 32), render(v, 32)) or factor == "size"


def test_variant_rejects_inapplicable_factor():
    with pytest.raises(ValueError):
        variant(scene_at(0, 2), "count", np.random.default_rng(0))  # scene 2 is a pair
    held = one(shape="heart", colour="red")  # a held-out pair: its shape variant cannot stay held-out
    with pytest.raises(ValueError):
        variant(held, "shape", np.random.default_rng(0), split="heldout")


# -- datasets ------------------------------------------------------------------------------------
def test_dataset_with_workers_matches_direct_rendering():
    ds = SynthDataset(12, seed=4, size=32)
    # spawn, not fork: forking a test process that already runs threads (torch, faiss, worker
    # threads of other tests) can deadlock the children.
    batches = list(DataLoader(ds, batch_size=6, num_workers=2, collate_fn=collate, multiprocessing_context="spawn"))
    imgs = torch.cat([b["image"] for b in batches])
    assert imgs.shape == (12, 3, 32, 32) and imgs.dtype == torch.uint8
    want = torch.from_numpy(render_batch([ds.scene(i) for i in range(12)], 32)).permute(0, 3, 1, 2)
    assert torch.equal(imgs, want)
    assert all(isinstance(c, str) for b in batches for c in b["caption"])


def test_stream_shards_indices_across_workers():
    dl = DataLoader(SynthStream(seed=1, size=16, start=100, n=20), batch_size=5, num_workers=2,
                    collate_fn=collate, multiprocessing_context="spawn")
    seen = sorted(i for b in dl for i in b["index"].tolist())
    assert seen == list(range(100, 120))


# -- export CLI ----------------------------------------------------------------------------------
def test_export_cli_writes_what_it_claims(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["export", str(out), "--n", "5", "--seed", "2", "--size", "48", "--split", "heldout"]) == 0
    lines = [json.loads(x) for x in (out / "captions.jsonl").read_text().splitlines()]
    assert len(lines) == 5 and len(list(out.glob("*.png"))) == 5
    for row in lines:
        scene = Scene.from_dict(row["scene"])
        assert row["heldout"] and scene.uses_heldout()
        assert row["caption"] in row["captions"] and row["captions"][0] == canonical_caption(scene)
        assert np.array_equal(np.asarray(Image.open(out / row["file"])), render(scene, 48))
    first = (out / "captions.jsonl").read_text()
    main(["export", str(out), "--n", "5", "--seed", "2", "--size", "48", "--split", "heldout"])
    assert (out / "captions.jsonl").read_text() == first  # re-runnable, same content


def test_no_django_in_ml_core_synth():
    code = ("import sys, ml_core.synth, ml_core.synth.oracle, ml_core.synth.__main__; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'atelier', 'plugins')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
