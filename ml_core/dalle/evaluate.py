"""Measurements of the tokenizer and the generator, judged by the synth ORACLE (never by CLIP).

Tokenizer: the oracle reads reconstructions of held-out scenes (a world seed never trained on, half
of them using held-out colour+shape pairs) as well as the originals: `tokenizer_oracle_ratio` =
oracle 'all heads right' accuracy on reconstructions / on originals; also PSNR and per head.

Generation: prompts are canonical captions of scenes of an unseen world, in categories
  single      one object: colour and shape right (train-split pairs, fresh scenes)
  count       1-3 objects: colour, shape and count right
  position    colour, shape and position right
  relation    two objects: layout, both colours and shapes right (= the relation holds)
  heldout     one object whose colour+shape pair never occurs in training: colour and shape right
For each prompt the sampler draws 64 candidates; accuracy at N=1 is the share of ALL candidates
that are right (no reranking); at N=4/16/64 it is the chance that the demo CLIP's top-1 of N
candidates is right, averaged exactly over every N-subset of the 64 (`expected_top1`): the same
expectation as "top-1 of N fresh candidates", with less noise than disjoint groups of N.
"""
from __future__ import annotations

import dataclasses
from math import comb

import numpy as np
import torch

from ..rerank import score_candidates
from ..synth.captions import canonical_caption
from ..synth.oracle import Oracle, accuracy, scene_labels
from ..synth.render import render_batch
from ..synth.sampling import scene_at
from ..synth.vocab import SHAPE_NAMES
from .vqvae import VQVAE, psnr

EVAL_WORLD = 777  # world seed of evaluation scenes (training uses 0.. with other offsets)


@torch.no_grad()
def tokenizer_eval(vq: VQVAE, oracle: Oracle, n: int = 1000, seed: int = EVAL_WORLD) -> dict:
    scenes = ([scene_at(seed, i, "heldout") for i in range(n // 2)]
              + [scene_at(seed, i, "all") for i in range(n - n // 2)])
    def images(size: int) -> torch.Tensor:
        return torch.from_numpy(render_batch(scenes, size)).permute(0, 3, 1, 2).float() / 255

    x_in = images(vq.cfg.image_size)
    tokens = torch.cat([vq.encode(x_in[i:i + 256]) for i in range(0, n, 256)])
    rec = torch.cat([vq.decode(tokens[i:i + 256]) for i in range(0, n, 256)])
    # a super-resolving decoder is judged against the scene rendered at ITS size
    x = x_in if vq.cfg.out_scale == 1 else images(vq.cfg.out_size)
    orig_acc = accuracy(oracle.check(x, scenes))
    rec_acc = accuracy(oracle.check(rec, scenes))
    counts = torch.bincount(tokens.flatten(), minlength=vq.cfg.codebook_size).float()
    p = counts / counts.sum()
    return {"tokenizer_oracle_ratio": rec_acc["all"] / max(orig_acc["all"], 1e-9),
            "psnr": psnr(rec, x), "oracle_on_originals": orig_acc["all"],
            "oracle_on_reconstructions": rec_acc["all"],
            "per_head_ratio": {h: rec_acc[h] / max(orig_acc[h], 1e-9) for h in orig_acc if h != "all"},
            "codes_used": int((counts > 0).sum()),
            "code_perplexity": float(torch.exp(-(p * (p + 1e-12).log()).sum())),
            "n_scenes": n}


# ------------------------------------------------------------------------------------ generation
CATEGORY_HEADS = {
    "single": ("colour", "shape"),
    "count": ("colour", "shape", "count"),
    "position": ("colour", "shape", "position"),
    "relation": ("layout", "colour", "shape", "colour2", "shape2"),
    "heldout": ("colour", "shape"),
}


def eval_prompts(n_per_category: int, seed: int = EVAL_WORLD) -> dict[str, list]:
    """Category -> scenes whose canonical captions are the prompts (unseen world `seed`)."""
    single = [scene_at(seed, 50_000 + i, "train", "single") for i in range(3 * n_per_category)]
    one = [s for s in single if s.count == 1]
    return {
        "single": one[:n_per_category],
        "count": single[:n_per_category],
        "position": single[n_per_category: 2 * n_per_category],
        "relation": [scene_at(seed, 60_000 + i, "train", "pair") for i in range(n_per_category)],
        "heldout": [s for s in (scene_at(seed, 70_000 + i, "heldout", "single")
                                for i in range(4 * n_per_category)) if s.count == 1][:n_per_category],
    }


def judge(oracle: Oracle, images: torch.Tensor, scene, heads) -> np.ndarray:
    """(n,) bool: does the oracle read `heads` of `scene` from each image?"""
    want = scene_labels(scene)
    return np.array([all(p[h] == want[h] for h in heads) for p in oracle.predict(images)])


def generation_eval(dalle, oracle: Oracle, n_per_category: int = 16, n_max: int = 64,
                    ns=(1, 4, 16, 64), clip_engine=None, settings: dict | None = None,
                    log=print, progress=None, categories=None, world: int = EVAL_WORLD) -> dict:
    """Oracle accuracy per category at N=1 (mean over all candidates) and of the CLIP-reranked top-1
    at N (per prompt, averaged over every N-subset of the n_max candidates: `expected_top1`).
    "ceiling" holds, per N, the chance that N of the candidates hold at least one right one: what a
    perfect reranker would reach, so the gap to it is the reranker's and the rest is the generator's.
    "ranked": the top-1 at N ranked as the generation plugin ranks (`ml_core.rerank.score_candidates`:
    for the demo CLIP the margin of the prompt over its nearest one-fact contradiction, on the mean of
    three smoothed views; raw cosine for other engines). The main figures rank by raw cosine.
    "stderr": per N, the standard error of the accuracy over the prompts; "by_prompt": each prompt
    with its own figures (which prompts fail). `world`: the world the prompts come from (choose
    settings or checkpoints on another one than EVAL_WORLD)."""
    settings = settings or {}
    sampler = dalle.sampler()
    prompts = eval_prompts(n_per_category, seed=world)
    res: dict = {}
    for cat, scenes in prompts.items():
        if categories is not None and cat not in categories:
            continue
        heads = CATEGORY_HEADS[cat]
        n1, top = [], {n: [] for n in ns if n > 1}
        ceiling, top_ranked = {n: [] for n in top}, {n: [] for n in top}
        prompt_texts = []
        for k, scene in enumerate(scenes):
            prompt = canonical_caption(scene)
            prompt_texts.append(prompt)
            out = sampler.sample(prompt, n=n_max, seed=k, **settings)
            ok = judge(oracle, out.images, scene, heads)
            n1.append(ok.mean())
            for n in ceiling:
                ceiling[n].append(any_right(ok, n))
            if clip_engine is not None:   # two rerankers: raw cosine and the plugin's ranking
                score, ranking = score_candidates(clip_engine, prompt, out.images)
                for n in top:
                    top[n].append(expected_top1(ok, score, n))
                    top_ranked[n].append(expected_top1(ok, ranking, n))
            if progress:
                progress()
        per_prompt = {"1": n1, **{str(n): v for n, v in top.items() if v}}
        res[cat] = {**{n: float(np.mean(v)) for n, v in per_prompt.items()},
                    "ceiling": {str(n): float(np.mean(v)) for n, v in ceiling.items()},
                    "stderr": {n: _stderr(v) for n, v in per_prompt.items()}, "prompts": len(scenes),
                    "ranked": {str(n): float(np.mean(v)) for n, v in top_ranked.items() if v},
                    "ranked_stderr": {str(n): _stderr(v) for n, v in top_ranked.items() if v},
                    "by_prompt": [{"prompt": t, **{n: round(float(v[i]), 4) for n, v in per_prompt.items()}}
                                  for i, t in enumerate(prompt_texts)]}
    return res


def _stderr(per_prompt: list[float]) -> float:
    """Standard error of the mean over prompts: most of an accuracy's noise is which prompts were
    drawn (a shape the model draws badly), and at N = 64 each prompt gives one reranked pick."""
    v = np.asarray(per_prompt, dtype=float)
    return float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def expected_top1(ok: np.ndarray, score: np.ndarray, n: int) -> float:
    """The chance that the best-scored of n candidates drawn without replacement from these M is
    right, exactly: the candidate ranked j-th best (from 0) is the top-1 of C(M-1-j, n-1) of the
    C(M, n) subsets. The unbiased estimate of "top-1 of n fresh candidates" with the least noise."""
    m = len(ok)
    ranked = np.asarray(ok, dtype=float)[np.argsort(-np.asarray(score), kind="stable")]
    weights = np.array([comb(m - 1 - j, n - 1) for j in range(m)], dtype=float) / comb(m, n)
    return float(weights @ ranked)


def any_right(ok: np.ndarray, n: int) -> float:
    """The chance that n candidates drawn without replacement from these hold a right one."""
    m, wrong = len(ok), int(len(ok) - np.sum(ok))
    return 1.0 - comb(wrong, n) / comb(m, n)


# ------------------------------------------------------------------------------------ diagnosis
def other_shape(scene):
    """The same single-object scene with every object's shape moved 3 along SHAPE_NAMES."""
    k = len(SHAPE_NAMES)
    objs = tuple(dataclasses.replace(o, shape=SHAPE_NAMES[(SHAPE_NAMES.index(o.shape) + 3) % k])
                 for o in scene.objects)
    return dataclasses.replace(scene, objects=objs)


@torch.no_grad()
def caption_sensitivity(dalle, n: int = 48, seed: int = EVAL_WORLD) -> dict:
    """Does the transformer's likelihood of REAL image tokens depend on the shape word? Mean loss
    (nats) per object token and per background token of single-object eval scenes under their own
    caption and under the caption of the same scene with another shape, and the share of scenes
    whose object tokens prefer their own caption (0.5 = the shape word is ignored)."""
    from .training import render_with_objects, token_masks

    scenes = [s for s in (scene_at(seed, 50_000 + i, "train", "single") for i in range(4 * n))
              if s.count == 1][:n]
    grid, T = dalle.vq.cfg.grid, dalle.model.cfg.text_len
    images, object_pixels = render_with_objects(scenes, dalle.vq.cfg.image_size)   # rendered once
    tokens = dalle.vq.encode(images)
    obj = token_masks(object_pixels, grid).flatten(1)                     # (n, G*G)

    def loss(caps):
        logits = dalle.model(dalle.text.encode(caps), tokens[:, :-1])[:, T - 1:]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1),
                                                 reduction="none").view(len(caps), -1)

    own = loss([canonical_caption(s) for s in scenes])
    other = loss([canonical_caption(other_shape(s)) for s in scenes])
    prefer = ((other * obj).sum(1) > (own * obj).sum(1)).float().mean()
    return {"object_loss": float(own[obj].mean()), "object_loss_other_shape": float(other[obj].mean()),
            "background_loss": float(own[~obj].mean()), "background_loss_other_shape": float(other[~obj].mean()),
            "prefers_own_shape": float(prefer), "n_scenes": len(scenes)}
