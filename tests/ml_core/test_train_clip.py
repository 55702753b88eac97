"""The CLIP trainer on a tiny architecture: loss falls, resume reproduces, the saved folder loads.

These train a ~2M-parameter model (mostly the 49,408-token embedding) on 32 px scenes, never the
shipped demo model, so they run in seconds on 2 cores.
"""
import json

import numpy as np
import pytest
import torch

from ml_core.clip import create_engine
from ml_core.train import Trainer, TrainerConfig
from ml_core.train.__main__ import SUBCOMMANDS, main as train_main
from ml_core.synth.oracle import HEADS
from ml_core.train.clip import (ClipBatches, ClipRecipe, ClipWithHeads, build_model, clip_loss, contrastive_loss,
                                grouped_variance,
                                encode_text_trimmed, train_clip, trained_clip)
from ml_core.train.clip_data import caption_key, clip_batch, match_matrix, partial_caption, signature
from ml_core.synth import canonical_caption, scene_at

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 48, "layers": 2, "head_width": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
RECIPE = ClipRecipe(groups=8, group_size=4, image_size=32)


def _trainer(tmp_path, steps, **kw):
    cfg = TrainerConfig(steps=steps, lr=3e-3, warmup=5, checkpoint_every=kw.pop("every", 0), num_workers=0,
                        progress=False, device="cpu", threads=2)
    model = build_model(TINY, seed=0)
    pre = model.visual.preprocess_cfg
    batches = ClipBatches(0, RECIPE, 32, pre["mean"], pre["std"])
    return Trainer(cfg, model, batches, clip_loss, checkpoint_dir=tmp_path / "ckpt", **kw)


def test_batches_are_groups_of_hard_negatives():
    b = clip_batch(0, 3, groups=6, group_size=4, size=32)
    n = len(b.scenes)
    assert 12 <= n <= 24 and b.images.shape == (n, 32, 32, 3) and b.match.shape == (n, len(b.texts))
    assert b.match[np.arange(n), np.arange(n)].all()  # each caption is true of its own image
    groups = [[s for s, g in zip(b.scenes, b.group) if g == k] for k in range(6)]
    assert all(2 <= len(g) <= 4 for g in groups)
    for group in groups:  # one background; members differ in what a caption can say; no held-out pair
        assert len({s.background for s in group}) == 1 and len({signature(s) for s in group}) == len(group)
        assert all(not s.uses_heldout() for s in group)
    again = clip_batch(0, 3, groups=6, group_size=4, size=32)
    assert again.texts == b.texts and np.array_equal(again.images, b.images)


def test_match_matrix_understands_partial_captions():
    red_circles = scene_at(0, 0, "train", "single")
    rng = np.random.default_rng(0)
    text, facts = partial_caption(red_circles, rng)
    full = canonical_caption(red_circles)
    pair = scene_at(0, 1, "train", "pair")
    keys = [caption_key(red_circles, full), caption_key(red_circles, text, facts), caption_key(pair, canonical_caption(pair))]
    m = match_matrix([red_circles, pair], keys)
    assert m[0, 0] and m[0, 1] and not m[0, 2] and m[1, 2] and not m[1, 0]


def test_trimmed_text_encoder_matches_open_clip():
    model = build_model(TINY, seed=1).eval()
    tokens = ClipBatches(0, RECIPE, 32, (0, 0, 0), (1, 1, 1))(0)[1]
    assert (tokens[:, -8:] == 0).all()  # the captions are short: most positions are padding
    with torch.no_grad():
        torch.testing.assert_close(encode_text_trimmed(model, tokens), model.encode_text(tokens, normalize=True),
                                   atol=1e-5, rtol=1e-4)


def test_contrastive_loss_ignores_other_true_captions():
    img = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.01]]), dim=-1)
    match = torch.tensor([[True, True], [True, True]])  # both captions true of both images
    assert contrastive_loss(img, img, match, 10.0) < 1e-6
    assert contrastive_loss(img, img, torch.eye(2, dtype=torch.bool), 10.0) > 0.5


def test_loss_falls_on_a_tiny_config(tmp_path):
    trainer = _trainer(tmp_path, steps=40).run()
    first, last = np.mean(trainer.losses[:5]), np.mean(trainer.losses[-5:])
    assert last < first - 0.5, trainer.losses


class _Stop(Exception):
    pass


def test_resume_continues_with_identical_state(tmp_path):
    whole = _trainer(tmp_path / "a", steps=6, every=3).run()

    def interrupt(t):
        if t.step == 4:  # after the step-3 checkpoint, before the run ends
            raise _Stop

    broken = _trainer(tmp_path / "b", steps=6, every=3)
    broken.add_callback("on_step_end", interrupt)
    with pytest.raises(_Stop):
        broken.run()
    resumed = _trainer(tmp_path / "b", steps=6, every=3)
    assert resumed.load_checkpoint() and resumed.step == 3
    resumed.run()
    assert resumed.losses == whole.losses  # same seed, same batches, same state: same numbers
    for (k, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_saved_folder_loads_through_the_registry(tmp_path):
    out = tmp_path / "clip"
    trainer = train_clip(out=out, model_cfg=TINY, steps=3, recipe=RECIPE, checkpoint_dir=None,
                         num_workers=0, progress=False, final_eval=False, device="cpu")
    facts = json.loads((out / "training.json").read_text())
    assert facts["steps"] == 3 and facts["seed"] == 0 and len(facts["loss_every_50"]) == 1
    engine = create_engine(f"file:{out}", device="cpu")
    assert engine.embed_dim == 32 and engine.image_size == 32
    assert isinstance(trainer.model, ClipWithHeads)  # the attribute heads are trained, not saved
    with torch.no_grad():
        for key, value in trained_clip(trainer).state_dict().items():  # stored in fp16
            assert torch.allclose(engine.model.state_dict()[key].float(), value.float(), atol=2e-3, rtol=1e-2), key
    assert engine.encode_texts(["a red circle"]).shape == (1, 32)


def test_attribute_heads_add_the_ground_truth_loss():
    batch = ClipBatches(0, RECIPE, 32, (0, 0, 0), (1, 1, 1))(0)
    images, targets = batch[0], batch[3]
    assert targets.shape == (len(images), len(HEADS)) and (targets >= -100).all()
    assert ((targets == -100).sum(1) > 0).all()  # a single has no second object, a pair no count
    clip = build_model(TINY, seed=0)
    wrapped = ClipWithHeads(clip, TINY["embed_dim"], weight=1.0)
    torch.manual_seed(0)
    plain = clip_loss(clip, batch)
    with_heads = clip_loss(wrapped, batch)
    assert with_heads > plain + 0.5  # ~ln(#classes) per head at initialisation
    zero_weight = clip_loss(ClipWithHeads(clip, TINY["embed_dim"], weight=0.0), batch).detach()
    assert float(zero_weight) == pytest.approx(float(plain.detach()), rel=1e-5)


def test_dispatcher_lists_clip_and_rejects_unknown(capsys):
    assert SUBCOMMANDS["clip"] == "ml_core.train.clip"
    assert train_main(["nope"]) == 2
    assert "clip" in capsys.readouterr().err


def test_grouped_variance_is_the_spread_inside_each_label():
    rows = torch.tensor([[1.0, 0.0], [3.0, 0.0], [5.0, 5.0], [0.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 2])  # group 0 spreads by +-1 on one axis, groups 1 and 2 are alone
    assert float(grouped_variance(rows, labels, 3)) == pytest.approx(2 / 4)
    assert float(grouped_variance(rows[:0], labels[:0], 3)) == 0.0
    same = torch.tensor([[2.0, 1.0], [2.0, 1.0]])
    assert float(grouped_variance(same, torch.tensor([1, 1]), 2)) == 0.0


def test_invariance_loss_punishes_colour_scores_that_depend_on_shape():
    """Single scenes of one colour must get one colour-prompt distribution whatever their shape;
    the term is added only with a weight, and a batch without pairs does not give NaN."""
    batch = ClipBatches(0, RECIPE, 32, (0, 0, 0), (1, 1, 1))(0)
    clip = build_model(TINY, seed=0)
    torch.manual_seed(0)
    with_inv = ClipWithHeads(clip, TINY["embed_dim"], weight=0.0, invariance=1.0)
    without = ClipWithHeads(clip, TINY["embed_dim"], weight=0.0, invariance=0.0)
    img = clip.encode_image(batch[0], normalize=True)
    term = with_inv.invariance_loss(img, batch[3], torch.tensor(20.0))
    assert float(term) > 0 and term.requires_grad
    assert float(clip_loss(with_inv, batch)) == pytest.approx(float(clip_loss(without, batch)) + float(term), rel=1e-4)
    # Images that differ only in shape but embed identically have no spread at all.
    targets = batch[3].clone()
    singles = (targets[:, 0] == 0).nonzero().flatten()
    twin = img.clone()
    twin[singles] = img[singles[0]]
    targets[singles, 1] = targets[singles[0], 1]
    targets[singles, 2] = targets[singles[0], 2]
    assert float(with_inv.invariance_loss(twin, targets, torch.tensor(20.0))) == pytest.approx(0.0, abs=1e-6)
    heads = ClipWithHeads(clip, TINY["embed_dim"], weight=1.0)
    assert torch.isfinite(heads.attribute_loss(img[singles], batch[3][singles]))


def _scripted_result(score: float) -> dict:
    heads = {h: 1.0 for h in ("color", "shape", "count", "position")}
    return {"zeroshot": dict(heads), "heldout_combo": {**heads, "color": score},
            "retrieval": {"r1": 1.0, "r5": 1.0, "r10": 1.0}, "relation": 1.0, "binding": 1.0}


def test_validation_selection_saves_the_best_step_not_the_last(tmp_path, monkeypatch):
    """--select-every: the weights written are those of the step with the best validation score
    (here step 2 of 3), on the validation world, and a resumed run remembers the choice."""
    from ml_core.train import clip as clip_training

    scores = {1: 0.5, 2: 0.9, 3: 0.7}
    seen_seeds, states = [], {}

    def scripted_probe(model, model_cfg, device, **sizes):
        step = len(seen_seeds) + 1
        seen_seeds.append(sizes.get("seed"))
        states[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return _scripted_result(scores[step])

    monkeypatch.setattr(clip_training, "probe", scripted_probe)
    assert clip_training.validation_score(_scripted_result(0.3)) == pytest.approx(0.3)
    trainer = train_clip(out=tmp_path / "out", model_cfg=TINY, steps=3, recipe=RECIPE, lr=3e-3, warmup=1,
                         checkpoint_dir=tmp_path / "ckpt", num_workers=0, threads=1, progress=False,
                         final_eval=False, select_every=1)
    assert seen_seeds == [clip_training.VALIDATION_SEED] * 3
    facts = json.loads((tmp_path / "out" / "training.json").read_text())
    assert facts["selection"]["selected_step"] == 2 and facts["selection"]["validation_score"] == 0.9
    saved = create_engine(f"file:{tmp_path / 'out'}", device="cpu").model.state_dict()
    for key, value in states[2].items():
        if value.is_floating_point():
            torch.testing.assert_close(saved[key].float(), value.half().float())
    assert not all(torch.equal(states[2][k], states[3][k]) for k in states[2])  # training moved on
    resumed = clip_training.ValidationSelector(TINY, tmp_path / "ckpt", every=1)
    assert resumed.best["step"] == 2
    del trainer


def test_prior_loss_keeps_class_preferences_out_of_the_blind_parts():
    """--prior-weight: the colour-blind part of a factored tower must not prefer any colour text
    (nor the shape-blind part any shape text); zero for parts orthogonal to the class texts."""
    from ml_core.train.clip import demo_model_cfg

    cfg = demo_model_cfg()
    cfg["vision_cfg"]["timm_model_name"] = "atelier_conv64_mask"
    clip = build_model(cfg, seed=0)
    wrapped = ClipWithHeads(clip, cfg["embed_dim"], weight=0.0, prior=1.0)
    plain = ClipWithHeads(clip, cfg["embed_dim"], weight=0.0)
    batch = ClipBatches(0, ClipRecipe(groups=4, group_size=3), 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(0)
    colour_blind, shape_blind = clip.visual.trunk.parts(batch[0])
    scale = torch.tensor(20.0)
    term = wrapped.prior_loss(colour_blind, shape_blind, scale)
    assert float(term) > 0 and term.requires_grad
    torch.manual_seed(0)
    assert float(clip_loss(wrapped, batch)) == pytest.approx(float(clip_loss(plain, batch)) + float(term), rel=1e-4)
    colours, shapes = (t.detach() for t in wrapped.class_texts())
    # Remove from each part its components along its class texts: no preference left.
    flat_c = colour_blind - colour_blind @ torch.linalg.pinv(colours) @ colours
    flat_s = shape_blind - shape_blind @ torch.linalg.pinv(shapes) @ shapes
    assert float(wrapped.prior_loss(flat_c, flat_s, scale)) == pytest.approx(0.0, abs=1e-4)
