"""ml_core.dalle: tokenizer, transformer, sampler, training, checkpoints (fast, CPU)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from ml_core.dalle import (DalleConfig, DalleTransformer, DalleWeightsError, Sampler, VQConfig, VQVAE,
                           load_dalle)
from ml_core.dalle.sampler import filter_logits, pick
from ml_core.dalle.training import CONFIGS, DECODER_DIR, TOKENIZER_DIR, TRANSFORMER_DIR, run, train_tokenizer
from ml_core.dalle.training_data import tokenize_scenes, vq_batch
from ml_core.train.trainer import read_checkpoint


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def small_model(seed: int = 0) -> DalleTransformer:
    torch.manual_seed(seed)
    return DalleTransformer(DalleConfig(text_vocab=50, text_len=6, image_vocab=40, image_grid=4,
                                        n_layer=2, n_head=2, n_embd=32)).eval()


TEXT = torch.tensor([1, 5, 7, 9, 2, 0])


# ---------------------------------------------------------------------------------------- tokenizer
def test_vq_roundtrip_shapes():
    vq = VQVAE(VQConfig(channels=16, codebook_size=64, code_dim=16)).eval()
    x, w = vq_batch(0, 0, 4, 32, 4.0)
    tokens = vq.encode(x)
    assert tokens.shape == (4, 64) and tokens.dtype == torch.long
    assert 0 <= int(tokens.min()) and int(tokens.max()) < 64
    rec = vq.decode(tokens)
    assert rec.shape == (4, 3, 32, 32) and 0 <= float(rec.min()) and float(rec.max()) <= 1
    assert vq.encode((x * 255).round().byte()).shape == (4, 64)  # uint8 images accepted
    assert w.shape == (4, 1, 32, 32) and float(w.max()) > 1  # objects weigh more


def test_vq_codebook_usage_and_dead_code_restart():
    torch.manual_seed(0)
    vq = VQVAE(VQConfig(channels=16, codebook_size=32, code_dim=8))
    opt = torch.optim.Adam(vq.parameters(), 2e-3)
    for step in range(8):
        x, w = vq_batch(0, step, 8, 32, 4.0)
        _, loss, st = vq(x, w)
        opt.zero_grad(), loss.backward(), opt.step()
    stats = vq.stats()
    assert stats["codebook_size"] == 32 and stats["perplexity"] > 1.0
    # codes nobody picks are restarted on encoder outputs of the next batch
    cb = vq.codebook
    cb.ema_count[:16] = 0.0
    cb.embed[:16] = 1e3  # far away: never chosen
    vq(vq_batch(0, 99, 8, 32, 4.0)[0])
    assert float(cb.embed[:16].abs().max()) < 1e2 and bool((cb.ema_count[:16] >= 0.5).all())
    assert vq.stats()["dead_codes"] < 16


# ---------------------------------------------------------------------------------------- transformer
def test_transformer_is_causal():
    m = small_model()
    image = torch.randint(0, 40, (2, 15))
    logits = m(TEXT[None].expand(2, -1), image)                     # (2, 6 + 15, V)
    assert logits.shape == (2, 21, 40)
    changed = image.clone()
    changed[:, 9] = (changed[:, 9] + 1) % 40
    logits2 = m(TEXT[None].expand(2, -1), changed)
    pos = 6 + 9  # stream position of image token 9
    assert torch.allclose(logits[:, :pos], logits2[:, :pos], atol=1e-6)
    assert not torch.allclose(logits[:, pos:], logits2[:, pos:])


def test_loss_shape_and_value():
    m = small_model()
    loss = m.loss(TEXT[None].expand(3, -1), torch.randint(0, 40, (3, 16))).detach()
    assert loss.ndim == 0 and 2.0 < float(loss) < 6.0  # ~ln(40) at init


def test_weighted_loss_weighs_tokens():
    m = small_model()
    text, image = TEXT[None].expand(2, -1), torch.randint(0, 40, (2, 16))
    plain = m.loss(text, image).detach()
    assert torch.allclose(m.loss(text, image, torch.full((2, 16), 3.0)).detach(), plain)
    logits = m(text, image[:, :-1])[:, 5:].detach()                  # (2, 16, V): token j at 5 + j
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 40), image.reshape(-1), reduction="none")
    only = torch.zeros(2, 16)
    only[1, 7] = 1.0                                                  # all weight on one token
    assert torch.allclose(m.loss(text, image, only).detach(), ce.view(2, 16)[1, 7], atol=1e-6)


def test_object_token_masks_cover_the_objects():
    from ml_core.dalle.training_data import object_token_masks
    from ml_core.synth.sampling import scene_at

    masks = object_token_masks(0, 64, 64, 16, batch=32)
    assert masks.shape == (64, 256) and masks.dtype == torch.bool
    share = masks.float().mean(1)
    assert bool((share > 0).all()) and bool((share < 1).any())      # every scene has an object
    for i in range(64):  # each object's centre token is set; far corners of a lone object are not
        scene = scene_at(0, 10_000_000 + i, "train")
        for o in scene.objects:
            r, c = min(15, int(o.y * 16)), min(15, int(o.x * 16))
            assert masks[i, r * 16 + c], (i, o)
    lone = [i for i in range(64) if scene_at(0, 10_000_000 + i, "train").count == 1]
    assert lone and float(masks[lone].float().mean()) < 0.5


# ---------------------------------------------------------------------------------------- sampler
def test_cache_and_no_cache_greedy_agree_with_reference():
    m = small_model()
    s = Sampler(m)
    cached = s.sample(TEXT, n=3, seed=1, temperature=0).tokens
    uncached = s.sample(TEXT, n=3, seed=1, temperature=0, use_cache=False).tokens
    reference = m.generate(TEXT[None].expand(3, -1), temperature=0)
    assert torch.equal(cached, uncached) and torch.equal(cached, reference)
    guided = s.sample(TEXT, n=2, seed=1, temperature=0, cond_scale=2.5)
    assert torch.equal(guided.tokens, s.sample(TEXT, n=2, seed=1, temperature=0, cond_scale=2.5,
                                               use_cache=False).tokens)


def test_cache_and_no_cache_sampling_agree():
    s = Sampler(small_model())
    kw = dict(temperature=1.0, top_k=20, top_p=0.95, cond_scale=1.5)
    assert torch.equal(s.sample(TEXT, n=4, seed=3, **kw).tokens,
                       s.sample(TEXT, n=4, seed=3, use_cache=False, **kw).tokens)


def test_same_seed_same_images_other_seed_other_images():
    s = Sampler(small_model())
    a = s.sample(TEXT, n=4, seed=7, top_k=30).tokens
    assert torch.equal(a, s.sample(TEXT, n=4, seed=7, top_k=30).tokens)
    assert not torch.equal(a, s.sample(TEXT, n=4, seed=8, top_k=30).tokens)
    assert len({tuple(r.tolist()) for r in a}) > 1  # candidates differ from each other


def test_candidate_i_invariant_to_n():
    s = Sampler(small_model())
    big = s.sample(TEXT, n=16, seed=5, top_p=0.9, cond_scale=2.0).tokens
    small = s.sample(TEXT, n=4, seed=5, top_p=0.9, cond_scale=2.0).tokens
    assert torch.equal(big[:4], small)


def test_chunked_sampling_equals_one_batch():
    """A generation job samples in chunks (first=k): the images must not depend on the chunking."""
    s = Sampler(small_model())
    whole = s.sample(TEXT, n=10, seed=3, top_k=20, cond_scale=2.0)
    parts = [s.sample(TEXT, n=n, seed=3, first=f, top_k=20, cond_scale=2.0) for f, n in ((0, 4), (4, 4), (8, 2))]
    assert torch.equal(whole.tokens, torch.cat([p.tokens for p in parts]))
    assert whole.seeds == [seed for p in parts for seed in p.seeds]


def test_guidance_changes_outputs():
    s = Sampler(small_model())
    plain = s.sample(TEXT, n=8, seed=2, cond_scale=1.0).tokens
    guided = s.sample(TEXT, n=8, seed=2, cond_scale=3.0).tokens
    assert not torch.equal(plain, guided)


def test_filters_and_pick():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]])
    assert int((filter_logits(logits, 1.0, 2, None) > 0).sum()) == 2
    probs = filter_logits(logits, 1.0, None, 0.5)
    assert int((probs > 0).sum()) == 1 and abs(float(probs.sum()) - 1) < 1e-6
    p = filter_logits(logits, 1.0, None, None)
    assert int(pick(p, torch.tensor([0.0]))) == 0 and int(pick(p, torch.tensor([0.9999]))) == 4


def test_previews_and_completion():
    s = Sampler(small_model())
    previews = list(s.stream(TEXT, n=2, seed=0))
    assert [p.rows for p in previews] == [1, 2, 3, 4]
    assert [p.tokens.shape[1] for p in previews] == [4, 8, 12, 16]
    assert torch.equal(previews[1].tokens, previews[-1].tokens[:, :8])
    done = previews[-1].tokens[0]
    comp = s.complete(done, rows=2, prompt=TEXT, n=3, seed=9)
    assert comp.tokens.shape == (3, 16) and bool((comp.tokens[:, :8] == done[:8]).all())


# ---------------------------------------------------------------------------------------- training, weights
@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("dalle_tiny")
    run(out / "weights", config="tiny", seed=0, work=out / "work", threads=1, log=lambda m: None)
    return out


def rewind(folder, step: int, **fields) -> None:
    """Edit a stage's checkpoint folder as if its run had stopped at ``step`` (both files agree)."""
    model, optimizer = folder / "model.pt", folder / "optimizer.pt"
    state = torch.load(model, weights_only=False)
    state.update(step=step, losses=state["losses"][:step], **fields)
    torch.save(state, model)
    opt = torch.load(optimizer, weights_only=False)
    torch.save({**opt, "step": step}, optimizer)


def test_tiny_training_loss_falls_and_pipeline_samples(tiny_weights):
    losses = json.loads((tiny_weights / "work" / "losses.json").read_text())
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    dalle = load_dalle(tiny_weights / "weights")
    out = dalle.sampler().sample("a red circle on the left", n=2, seed=0)
    assert out.images.shape == (2, 3, 32, 32)
    previews = list(dalle.sampler().stream("a red circle", n=1, seed=0))
    assert previews[0].images.shape == (1, 3, 32, 32) and float(previews[0].images[0, :, -1].std()) == 0.0


def test_a_larger_time_budget_continues_a_finished_run(tiny_weights, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_weights / "work", work)
    short = run(tmp_path / "short", config="tiny", seed=0, work=work, resume=True, threads=1,
                log=lambda m: None, tf_minutes=1e-9)          # the budget is spent: nothing to add
    steps = json.loads((short / "config.json").read_text())["tf_steps"]
    rewind(work / TRANSFORMER_DIR, 10, elapsed=0.5)  # as if a time budget had stopped it at step 10
    longer = run(tmp_path / "longer", config="tiny", seed=0, work=work, resume=True, threads=1,
                 log=lambda m: None, tf_minutes=5)
    meta = json.loads((longer / "config.json").read_text())
    assert steps == 40 and meta["tf_steps"] == 40 and meta["tf_minutes_budget"] == 5
    assert "--tf-minutes 5" in meta["command"]


def _continue_to_46_steps(tiny_weights, tmp_path):
    """A copy of the tiny run's work folder continued from its 40-step cap to 46: (work folder,
    the transformer checkpoint before, config.json after)."""
    work = tmp_path / "work"
    shutil.copytree(tiny_weights / "work", work)
    before = read_checkpoint(work / TRANSFORMER_DIR)
    out = run(tmp_path / "more", config="tiny", seed=0, work=work, resume=True, threads=1,
              log=lambda m: None, tf_steps=46)
    return work, before, json.loads((out / "config.json").read_text())


def test_a_larger_step_cap_continues_a_finished_run(tiny_weights, tmp_path):
    work, before, meta = _continue_to_46_steps(tiny_weights, tmp_path)
    losses = json.loads((work / "losses.json").read_text())
    assert meta["tf_steps"] == 46 and len(losses) == 46 and "--tf-steps 46" in meta["command"]
    assert losses[:40] == before["losses"][:40]                     # the first 40 steps are kept
    after = read_checkpoint(work / TRANSFORMER_DIR)
    assert not torch.equal(after["model"]["head.weight"], before["model"]["head.weight"])


def test_a_continued_run_records_its_lineage(tiny_weights, tmp_path):
    """config.json carries what the checkpoint remembers: every call that trained the transformer
    (the first run's, then the continuation's) and the loop's wall-clock summed over them; a call
    that trains nothing adds nothing, and an interrupted call resumed with the same command is one entry."""
    work, first, meta = _continue_to_46_steps(tiny_weights, tmp_path)
    after = read_checkpoint(work / TRANSFORMER_DIR)
    assert len(first["extra"]["commands"]) == 1 and meta["transformer_commands"][0] == first["extra"]["commands"][0]
    assert meta["transformer_commands"][1] == meta["command"] and "--resume --tf-steps 46" in meta["command"]
    assert first["elapsed"] < after["elapsed"] and meta["times"]["transformer_train_total_s"] == round(after["elapsed"], 1)
    idle = run(tmp_path / "idle", config="tiny", seed=0, work=work, resume=True, threads=1,
               log=lambda m: None, tf_steps=46)                  # the cap is reached: no step to add
    assert json.loads((idle / "config.json").read_text())["transformer_commands"] == meta["transformer_commands"]
    rewind(work / TRANSFORMER_DIR, 42)  # as if that call had been stopped at 42
    resumed = run(tmp_path / "more", config="tiny", seed=0, work=work, resume=True, threads=1,
                  log=lambda m: None, tf_steps=46)                 # the same call again
    assert json.loads((resumed / "config.json").read_text())["transformer_commands"] == meta["transformer_commands"]
    assert read_checkpoint(work / TRANSFORMER_DIR)["step"] == 46


def test_more_training_scenes_extend_the_cached_tokens(tiny_weights, tmp_path):
    """--tf-scenes on --resume: the cached tokens of the first scenes are kept, only the new scenes
    are tokenized (the same tokens a fresh run would give them), and the transformer trains on all."""
    work = tmp_path / "work"
    shutil.copytree(tiny_weights / "work", work)
    before = torch.load(work / "tokens_512.pt")
    before[0] = (before[0] + 1) % 64        # marks the cached rows: recomputing them would undo it
    torch.save(before, work / "tokens_512.pt")
    out = run(tmp_path / "w", config="tiny", seed=0, work=work, resume=True, threads=1,
              log=lambda m: None, tf_scenes=600, tf_steps=44)
    tokens = torch.load(work / "tokens_600.pt")
    assert tokens.shape == (600, 64) and torch.equal(tokens[:512], before)
    vq = train_tokenizer(CONFIGS["tiny"], 0, work, resume=True, log=lambda m: None)
    assert torch.equal(tokens[512:], tokenize_scenes(vq, 0, 88, offset=10_000_000 + 512))
    meta = json.loads((out / "config.json").read_text())
    assert meta["tf_scenes"] == 600 and "--tf-scenes 600" in meta["command"] and meta["tf_steps"] == 44


def test_object_weight_trains_on_object_token_masks(tiny_weights, tmp_path):
    """--object-weight: the run computes (and caches) the object masks of its scenes, the loss
    weighs those tokens more (so it differs from the plain run's), and config.json says so."""
    work = tmp_path / "work"
    shutil.copytree(tiny_weights / "work", work)
    shutil.rmtree(work / TRANSFORMER_DIR)                            # transformer from scratch
    out = run(tmp_path / "w", config="tiny", seed=0, work=work, resume=True, threads=1,
              log=lambda m: None, object_weight=4.0)
    meta = json.loads((out / "config.json").read_text())
    assert meta["tf_object_weight"] == 4.0 and "--object-weight 4" in meta["command"]
    masks = torch.load(work / "object_masks_512.pt")
    assert masks.shape == (512, 64) and 0 < float(masks.float().mean()) < 1
    plain = json.loads((tiny_weights / "work" / "losses.json").read_text())
    weighted = json.loads((work / "losses.json").read_text())
    assert len(weighted) == len(plain) and weighted[0] != plain[0]   # same batches, other weights


def test_missing_or_broken_weights_fail_clearly(tiny_weights, tmp_path):
    with pytest.raises(DalleWeightsError) as e:
        load_dalle(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(e.value) and "python -m ml_core.train dalle" in str(e.value)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_weights / "weights", broken)
    (broken / "transformer.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DalleWeightsError, match="transformer.pt"):
        load_dalle(broken)
    (broken / "vqvae.pt").unlink()
    with pytest.raises(DalleWeightsError, match="missing vqvae.pt"):
        load_dalle(broken)
    wrong = tmp_path / "wrong"
    shutil.copytree(tiny_weights / "weights", wrong)
    meta = json.loads((wrong / "config.json").read_text())
    meta["transformer"]["n_embd"] = 96
    (wrong / "config.json").write_text(json.dumps(meta))
    with pytest.raises(DalleWeightsError, match="cannot load transformer.pt"):
        load_dalle(wrong)


# ---------------------------------------------------------------------------------------- shipped model
SHIPPED_MIN_COLOUR_SHAPE = 0.125  # a floor under every shipped version: v5 (CHANGELOG.md) had 52.7 % at N=1 in the eval (16 prompts x 64) and 6 of these 24 (6 prompts x 4, its own settings; v4: 7 at cond 2)


def test_shipped_checkpoint_loads_and_oracle_judges_its_samples():
    from ml_core.eval.dalle import CATEGORY_HEADS, eval_prompts, judge
    from ml_core.synth.captions import canonical_caption
    from ml_core.synth.oracle import Oracle

    dalle = load_dalle()  # ml_core/weights/dalle, committed
    assert dalle.meta["train_config"] == "small64"
    oracle, sampler = Oracle.load(), dalle.sampler()
    hits = []
    for k, scene in enumerate(eval_prompts(6)["single"]):
        out = sampler.sample(canonical_caption(scene), n=4, seed=k, **dalle.sampling)
        hits.extend(judge(oracle, out.images, scene, CATEGORY_HEADS["single"]).tolist())
    print(f"shipped model: {sum(hits)}/{len(hits)} right")
    assert sum(hits) / len(hits) >= SHIPPED_MIN_COLOUR_SHAPE, hits


def test_shipped_tokenizer_keeps_what_the_oracle_reads():
    """tokenizer_eval on 200 held-out scenes: the oracle reads from the shipped tokenizer's
    reconstructions at least 92 % of what it reads from the originals (measured 0.945 on these 200
    with the wide decoder, 0.935 with the one before; the 32 px tokenizer before that: 0.708)."""
    from ml_core.eval.dalle import tokenizer_eval
    from ml_core.synth.oracle import Oracle

    tok = tokenizer_eval(load_dalle().vq, Oracle.load(), n=200)
    assert tok["n_scenes"] == 200 and tok["oracle_on_originals"] >= 0.99, tok
    assert tok["tokenizer_oracle_ratio"] >= 0.92 and tok["psnr"] > 33, tok


def test_shipped_transformer_listens_to_the_shape_word():
    """caption_sensitivity: the shipped model's object tokens are likelier under their own caption
    than under the same scene's caption with another shape (measured 90 %, 67 % before; 0.5 = ignored)."""
    from ml_core.eval.dalle import caption_sensitivity, other_shape
    from ml_core.synth.captions import canonical_caption
    from ml_core.synth.sampling import scene_at

    scene = scene_at(777, 50_000, "train", "single")
    swapped = other_shape(scene)
    assert [o.shape for o in swapped.objects] != [o.shape for o in scene.objects]
    assert [o.colour for o in swapped.objects] == [o.colour for o in scene.objects]
    assert canonical_caption(swapped) != canonical_caption(scene)
    res = caption_sensitivity(load_dalle(), n=48)
    assert res["n_scenes"] == 48
    assert res["prefers_own_shape"] >= 0.75 and res["object_loss_other_shape"] > res["object_loss"] + 0.1, res
    assert res["background_loss"] < res["object_loss"]


def test_expected_top1_and_any_right_average_over_every_subset():
    """The eval's estimators equal brute force over all n-subsets of the candidates."""
    from itertools import combinations
    from ml_core.eval.dalle import any_right, expected_top1

    rng = np.random.default_rng(3)
    ok, score = rng.random(9) < 0.4, rng.normal(size=9)
    for n in (1, 2, 4, 9):
        subsets = list(combinations(range(9), n))
        top1 = np.mean([ok[list(s)][np.argmax(score[list(s)])] for s in subsets])
        hit = np.mean([ok[list(s)].any() for s in subsets])
        assert expected_top1(ok, score, n) == pytest.approx(top1) and any_right(ok, n) == pytest.approx(hit)
    assert expected_top1(ok, score, 1) == pytest.approx(ok.mean())
    assert expected_top1(ok, score, 9) == float(ok[np.argmax(score)])


def test_eval_ceiling_bounds_the_reranked_top1():
    """generation_eval's "ceiling" (chance that N candidates hold at least one right one) lies
    between the N=1 accuracy and N times it, grows with N, and bounds the CLIP-reranked top-1."""
    from ml_core.clip import get_engine
    from ml_core.eval.dalle import generation_eval
    from ml_core.synth.oracle import Oracle

    gen = generation_eval(load_dalle(), Oracle.load(), n_per_category=2, n_max=16, ns=(1, 4, 16),
                          clip_engine=get_engine("demo"), settings={"cond_scale": 2.0},
                          categories=("single", "heldout"), log=lambda m: None)
    assert set(gen) == {"single", "heldout"}
    for cat, r in gen.items():
        ceiling = r["ceiling"]
        assert set(ceiling) == {"4", "16"}
        assert r["1"] <= ceiling["4"] <= min(1.0, 4 * r["1"]) + 1e-9, (cat, r)
        assert ceiling["4"] <= ceiling["16"] <= min(1.0, 16 * r["1"]) + 1e-9, (cat, r)
        assert r["4"] <= ceiling["4"] and r["16"] <= ceiling["16"], (cat, r)
        assert set(r["ranked"]) == {"4", "16"}, (cat, r)
        assert r["ranked"]["4"] <= ceiling["4"] and r["ranked"]["16"] <= ceiling["16"], (cat, r)
        assert len(r["by_prompt"]) == r["prompts"] and all(set(b) == {"prompt", "1", "4", "16"} for b in r["by_prompt"])
        assert np.mean([b["1"] for b in r["by_prompt"]]) == pytest.approx(r["1"], abs=1e-4)
        if r["prompts"] < 2:     # held-out scenes with one object are rarer: one prompt, no stderr
            assert r["stderr"]["1"] != r["stderr"]["1"], (cat, r)   # NaN
            continue
        # two prompts, each right for k/16 of its 16 candidates: mean ± stderr gives back those two
        lo, hi = (r["1"] - r["stderr"]["1"]) * 16, (r["1"] + r["stderr"]["1"]) * 16
        assert lo == pytest.approx(round(lo)) and hi == pytest.approx(round(hi)) and 0 <= lo <= hi <= 16, (cat, r)
    assert gen["single"]["1"] > 0 and gen["single"]["prompts"] == 2  # else the bounds hold trivially


def tiny_work_and_tokenizer(tiny_weights, tmp_path):
    """A copy of the tiny run's work dir and its trained tokenizer (eval mode)."""
    work = tmp_path / "work"
    shutil.copytree(tiny_weights / "work", work)
    vq = VQVAE(CONFIGS["tiny"].vq)
    vq.load_state_dict(read_checkpoint(work / TOKENIZER_DIR)["model"])
    return work, vq.eval()


def test_decoder_finetuning_keeps_every_token_and_run_ships_it(tiny_weights, tmp_path):
    """--stage decoder: only the decoder learns (encoder, codebook and so every image's tokens are
    untouched, so the transformer trained on them stays valid); a later run writes that decoder."""
    from ml_core.dalle.training import finetune_decoder

    work, before = tiny_work_and_tokenizer(tiny_weights, tmp_path)
    tc = CONFIGS["tiny"]
    x, _ = vq_batch(0, 999, 8, tc.vq.image_size, tc.fg_weight)
    after = finetune_decoder(tc, 0, work, steps=6, log=lambda m: None)
    assert torch.equal(before.encode(x), after.encode(x))
    for name, value in before.state_dict().items():
        same = torch.equal(value, after.state_dict()[name])
        assert same != name.startswith("decoder."), name  # decoder moved, nothing else did
    held = read_checkpoint(work / DECODER_DIR)
    assert held["step"] == held["config"]["steps"] == 6                # finished: what `run` ships
    out = run(tmp_path / "weights", config="tiny", seed=0, work=work, resume=True, threads=1, log=lambda m: None)
    assert json.loads((out / "config.json").read_text())["decoder_finetune_steps"] == 6
    shipped = load_dalle(out)
    for name, value in after.decoder.state_dict().items():
        torch.testing.assert_close(shipped.vq.decoder.state_dict()[name].float(), value.half().float())
    with pytest.raises(FileNotFoundError, match="train the tokenizer first"):
        finetune_decoder(tc, 0, tmp_path / "empty", steps=2, log=lambda m: None)


def test_super_resolving_decoder_paints_the_same_tokens_at_twice_the_size(tiny_weights, tmp_path):
    """--decoder-scale 2: a new decoder paints the tokenizer's tokens at 2x its input size (tokens
    and so the transformer unchanged); the weights load and sample at that size, and the tokenizer
    eval judges it against scenes rendered at that size."""
    from ml_core.eval.dalle import tokenizer_eval
    from ml_core.dalle.training import finetune_decoder
    from ml_core.synth.oracle import Oracle

    work, base = tiny_work_and_tokenizer(tiny_weights, tmp_path)
    tc = CONFIGS["tiny"]
    x, _ = vq_batch(0, 999, 4, tc.vq.image_size, tc.fg_weight)
    big = finetune_decoder(tc, 0, work, steps=4, log=lambda m: None, scale=2)
    assert big.cfg.out_size == 2 * tc.vq.image_size
    assert torch.equal(base.encode(x), big.encode(x))
    assert big.decode(big.encode(x)).shape == (4, 3, 64, 64)
    with pytest.raises(ValueError, match="out_scale 2, not 1"):
        finetune_decoder(tc, 0, work, steps=5, log=lambda m: None, scale=1)
    out = run(tmp_path / "weights", config="tiny", seed=0, work=work, resume=True, threads=1, log=lambda m: None)
    meta = json.loads((out / "config.json").read_text())
    assert meta["decoder_out_scale"] == 2 and meta["vqvae"]["out_scale"] == 2
    dalle = load_dalle(out)
    assert dalle.sampler().sample("a red circle", n=2, seed=0).images.shape == (2, 3, 64, 64)
    tok = tokenizer_eval(dalle.vq, Oracle.load(), n=16)
    assert tok["n_scenes"] == 16 and tok["psnr"] > 5 and 0 <= tok["tokenizer_oracle_ratio"]
    with pytest.raises(ValueError, match="needs a target of 64 px"):
        big(x)  # training a 2x decoder against the small image is a mistake, said plainly


def test_wider_decoder_is_trained_new_on_the_same_tokens_and_ships(tiny_weights, tmp_path):
    """--decoder-width / --decoder-blocks: a new, wider and deeper decoder at grid resolution learns
    from the frozen tokens; the weights record and load its shape; resuming with another is refused."""
    from ml_core.dalle.training import finetune_decoder

    work, base = tiny_work_and_tokenizer(tiny_weights, tmp_path)
    tc = CONFIGS["tiny"]
    x, _ = vq_batch(0, 999, 4, tc.vq.image_size, tc.fg_weight)
    wide = finetune_decoder(tc, 0, work, steps=4, log=lambda m: None, width=48, blocks=3)
    assert (wide.cfg.decoder_width, wide.cfg.bottom_blocks) == (48, 3)
    assert wide.decoder.net[0].out_channels == 48
    assert sum(p.numel() for p in wide.decoder.parameters()) > sum(p.numel() for p in base.decoder.parameters())
    assert torch.equal(base.encode(x), wide.encode(x))
    with pytest.raises(ValueError, match="decoder_width 48, not 0, bottom_blocks 3, not 2"):
        finetune_decoder(tc, 0, work, steps=5, log=lambda m: None)
    out = run(tmp_path / "weights", config="tiny", seed=0, work=work, resume=True, threads=1, log=lambda m: None)
    meta = json.loads((out / "config.json").read_text())
    assert (meta["decoder_width"], meta["decoder_bottom_blocks"]) == (48, 3)
    assert meta["vqvae"]["decoder_width"] == 48
    shipped = load_dalle(out)
    tokens = base.encode(x)
    torch.testing.assert_close(shipped.vq.decode(tokens), wide.half().float().decode(tokens), atol=2e-3, rtol=0)


def test_a_reranker_clip_fine_tunes_from_saved_weights_on_the_tokenizer_pictures(tiny_weights, tmp_path):
    """`python -m ml_core.train clip --init DIR --through-tokenizer DALLE_DIR`: the batches show the
    CLIP each picture as the image tokenizer decodes it (8-bit), and training starts from DIR."""
    from ml_core.clip import create_engine
    from ml_core.train.clip import ClipBatches, ClipRecipe, through_tokenizer, train_clip
    from ml_core.train.clip_data import clip_batch, to_model_input
    from tests.ml_core.test_train_clip import RECIPE, TINY

    vq = load_dalle(tiny_weights / "weights").vq
    raw = clip_batch(0, 0, RECIPE.groups, RECIPE.group_size, 32, RECIPE.partial).images
    seen = through_tokenizer(raw, vq)
    expected = vq.decode(vq.encode(torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255))
    assert seen.dtype == np.uint8 and seen.shape == raw.shape
    assert np.abs(seen.astype(int) - (expected * 255).round().permute(0, 2, 3, 1).numpy()).max() <= 1
    assert np.abs(seen.astype(int) - raw).mean() > 1          # the decoder's pictures, not the renders
    recipe = ClipRecipe(**{**RECIPE.__dict__, "through_tokenizer": str(tiny_weights / "weights")})
    batch = ClipBatches(0, recipe, 32, (0, 0, 0), (1, 1, 1))(0)
    torch.testing.assert_close(batch[0], to_model_input(seen, (0, 0, 0), (1, 1, 1)))
    with pytest.raises(ValueError, match="works on 32 px pictures"):
        through_tokenizer(clip_batch(0, 0, 2, 2, 64).images, vq)

    common = dict(model_cfg=TINY, checkpoint_dir=None, num_workers=0, progress=False, final_eval=False, device="cpu")
    train_clip(out=tmp_path / "a", steps=3, recipe=RECIPE, **common)
    tuned = train_clip(out=tmp_path / "b", steps=2, recipe=recipe, init=tmp_path / "a", lr=0.0, warmup=0, **common)
    before, after = (create_engine(f"file:{tmp_path / d}", device="cpu").model.state_dict() for d in "ab")
    assert all(torch.equal(before[k], after[k]) for k in before)    # lr 0: the start is the --init weights
    assert json.loads((tmp_path / "b" / "training.json").read_text())["init"] == str(tmp_path / "a")
    assert tuned.step == 2
    with pytest.raises(FileNotFoundError, match="no open_clip_model.safetensors"):
        train_clip(out=None, steps=1, recipe=RECIPE, init=tmp_path, **common)


def test_the_eval_plots_the_studios_ranking_and_raw_cosine(tmp_path):
    from PIL import Image

    from ml_core.eval.dalle import plot_accuracy, ranked_view

    res = {"single": {"1": 0.5, "4": 0.6, "16": 0.55, "ranked": {"4": 0.7, "16": 0.9},
                      "stderr": {"1": 0.01, "4": 0.02, "16": 0.03}, "ranked_stderr": {"4": 0.04, "16": 0.05}}}
    view = ranked_view(res)
    assert view["single"] == {"1": 0.5, "4": 0.7, "16": 0.9, "stderr": {"1": 0.01, "4": 0.04, "16": 0.05}}
    plot_accuracy(view, tmp_path / "ranked.png", "ranked")
    plot_accuracy(res, tmp_path / "raw.png", "raw")
    ranked, raw = (Image.open(tmp_path / f) for f in ("ranked.png", "raw.png"))
    assert ranked.size == raw.size == (640, 400)
    assert ranked.tobytes() != raw.tobytes()     # the points sit at the values they plot


# ---------------------------------------------------------------------------------------- on the trainer
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))])
def test_every_stage_trains_on_the_requested_device(tmp_path, device):
    """--device: the tokenizer and transformer train there (their checkpoints say so and hold
    tensors there); the weights written hold CPU tensors, so they load on any machine."""
    work = tmp_path / "work"
    out = run(tmp_path / "w", config="tiny", seed=0, work=work, threads=1, log=lambda m: None,
              tf_steps=3, device=device)
    meta = json.loads((out / "config.json").read_text())
    assert meta["device"].startswith(device) and f"--device {device}" in meta["command"]
    for stage in (TOKENIZER_DIR, TRANSFORMER_DIR):
        state = torch.load(work / stage / "model.pt", weights_only=False)      # no map_location
        assert state["config"]["device"] == device, stage
        assert {t.device.type for t in state["model"].values()} == {device}, stage
    shipped = torch.load(out / "transformer.pt", weights_only=True)
    assert {t.device.type for t in shipped.values()} == {"cpu"}
    assert load_dalle(out).sampler().sample("a red circle", n=1, seed=0).images.shape == (1, 3, 32, 32)


class _Stop(Exception):
    pass


def test_an_interrupted_tokenizer_stage_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """The tokenizer checkpoints every 3 of 6 steps; a run stopped during step 5 resumes from step
    3 with the same weights, optimizer moments and random stream (dead-code restarts draw from it),
    and ends where an uninterrupted run ends."""
    import dataclasses

    from ml_core.dalle import training_data

    tc = dataclasses.replace(CONFIGS["tiny"], vq_steps=6, ckpt_every=3, warmup=2)
    whole = train_tokenizer(tc, 0, tmp_path / "whole", resume=False, log=lambda m: None)
    real = training_data.TokenizerBatches.__call__

    def stop_at_step_4(self, step):
        if step == 4:
            raise _Stop
        return real(self, step)

    monkeypatch.setattr(training_data.TokenizerBatches, "__call__", stop_at_step_4)
    with pytest.raises(_Stop):
        train_tokenizer(tc, 0, tmp_path / "broken", resume=False, log=lambda m: None)
    assert read_checkpoint(tmp_path / "broken" / TOKENIZER_DIR)["step"] == 3
    monkeypatch.setattr(training_data.TokenizerBatches, "__call__", real)
    resumed = train_tokenizer(tc, 0, tmp_path / "broken", resume=True, log=lambda m: None)
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert read_checkpoint(tmp_path / "broken" / TOKENIZER_DIR)["losses"] == \
        read_checkpoint(tmp_path / "whole" / TOKENIZER_DIR)["losses"]


def test_resuming_a_work_directory_of_the_one_file_layout_is_refused(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    torch.save({"model": {}, "step": 3}, work / "tf_ckpt.pt")
    with pytest.raises(ValueError, match=r"older layout \(tf_ckpt.pt\).*another --work"):
        run(tmp_path / "w", config="tiny", seed=0, work=work, resume=True, threads=1, log=lambda m: None)


def test_the_eval_writes_files_only_into_the_plots_folder(tiny_weights, tmp_path, monkeypatch, capsys):
    """`python -m ml_core.eval dalle` prints its table and JSON; it writes no file (not into docs/,
    not into the working directory) unless --plots DIR, and then only into DIR."""
    from pathlib import Path

    from ml_core.eval.dalle import main

    docs = Path(__file__).resolve().parents[2] / "docs"

    def files(folder):
        return {(p, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}

    before = files(docs)
    monkeypatch.chdir(tmp_path)
    argv = ["--weights", str(tiny_weights / "weights"), "--quick", "--prompts", "2", "--clip", "file:/nowhere",
            "--threads", "1", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["prompts_per_category"] == 2 and result["clip"].startswith("unavailable")
    assert files(docs) == before and list(tmp_path.iterdir()) == []
    assert main([*argv, "--plots", str(tmp_path / "plots")]) == 0
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == \
        ["dalle_accuracy_vs_n.png", "dalle_accuracy_vs_n_raw.png", "dalle_samples.png"]
    assert files(docs) == before
