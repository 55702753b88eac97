"""``python -m ml_core.eval dalle [--weights DIR] [--json] [--quick] [--plots DIR]``: Atelier's
DALL·E-style model measured on the synthetic world, judged by the synth ORACLE (never by CLIP; the
demo CLIP only reranks). Plots (accuracy vs N, a grid of samples) are written only with ``--plots``.

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

import argparse
import dataclasses
import json
import sys
import time
from math import comb
from pathlib import Path

import numpy as np
import torch

from ml_core.dalle.vqvae import VQVAE, psnr
from ml_core.rerank import score_candidates
from ml_core.synth.captions import canonical_caption
from ml_core.synth.oracle import Oracle, accuracy, scene_labels
from ml_core.synth.render import render_batch
from ml_core.synth.sampling import scene_at
from ml_core.synth.vocab import SHAPE_NAMES

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
CATEGORY_ORDER = tuple(CATEGORY_HEADS)


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
    from ml_core.dalle.training_data import render_with_objects, token_masks

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


# ------------------------------------------------------------------------------------ plots
def ranked_view(res: dict) -> dict:
    """`generation_eval`'s result with the plugin's ranking ("ranked") in place of raw cosine at N > 1."""
    return {cat: {"1": r["1"], **r.get("ranked", {}),
                  "stderr": {"1": r["stderr"].get("1"), **r.get("ranked_stderr", {})}} for cat, r in res.items()}


def plot_accuracy(res: dict, path: Path, title: str) -> None:
    """Accuracy vs N per category, ± one standard error over the prompts, drawn with Pillow (no
    matplotlib needed)."""
    from PIL import Image, ImageDraw

    W, H, L, B, T = 640, 400, 60, 50, 30
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    ns = ["1", "4", "16", "64"]
    xs = {n: L + i * (W - L - 150) / (len(ns) - 1) for i, n in enumerate(ns)}
    y = lambda v: H - B - v * (H - B - T)  # noqa: E731
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        d.line([(L, y(v)), (W - 150, y(v))], fill=(225, 225, 225))
        d.text((10, y(v) - 6), f"{v:.0%}", fill="black")
    for n, x in xs.items():
        d.text((x - 6, H - B + 8), f"N={n}", fill="black")
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
    for (cat, c) in zip(CATEGORY_ORDER, colours):
        pts = [(xs[n], y(res[cat][n])) for n in ns if n in res.get(cat, {})]
        if len(pts) > 1:
            d.line(pts, fill=c, width=3)
        for n, p in zip([n for n in ns if n in res.get(cat, {})], pts):
            se = res[cat].get("stderr", {}).get(n)
            if se == se and se:                     # ± one standard error over the prompts
                bx = p[0] + 3 * (CATEGORY_ORDER.index(cat) - 2)   # side by side where lines meet
                d.line([(bx, y(max(0.0, res[cat][n] - se))), (bx, y(min(1.0, res[cat][n] + se)))], fill=c, width=1)
            d.ellipse([p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4], fill=c)
        d.text((W - 140, T + 18 * CATEGORY_ORDER.index(cat)), cat, fill=c)
    d.text((L, 8), title, fill="black")
    d.text((W - 140, T + 18 * len(CATEGORY_ORDER) + 6), "bars: ± 1 standard\nerror over prompts", fill="gray")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def sample_grid(dalle, prompts: list[str], n: int, path: Path, settings: dict, scale: int = 3) -> None:
    """One row per prompt: n candidates (CLIP-free, candidate order), the prompt written above."""
    from PIL import Image, ImageDraw

    sampler = dalle.sampler()
    S = dalle.vq.cfg.out_size * scale
    pad = 14
    img = Image.new("RGB", (n * S, len(prompts) * (S + pad)), "white")
    d = ImageDraw.Draw(img)
    for r, prompt in enumerate(prompts):
        out = sampler.sample(prompt, n=n, seed=r, **settings)
        arr = (out.images * 255).round().byte().permute(0, 2, 3, 1).numpy()
        d.text((2, r * (S + pad) + 1), prompt, fill="black")
        for c, a in enumerate(arr):
            img.paste(Image.fromarray(a).resize((S, S), Image.NEAREST), (c * S, r * (S + pad) + pad))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


# ------------------------------------------------------------------------------------ command line
def _clip_engine(spec: str, log):
    try:
        from ml_core.clip import get_engine
        return get_engine(spec), None
    except Exception as e:  # noqa: BLE001 - no demo CLIP: report and evaluate N=1 only
        log(f"demo CLIP unavailable ({type(e).__name__}: {e}); no reranking")
        return None, f"{type(e).__name__}: {e}"


def evaluate(dalle, oracle: Oracle, settings: dict, *, n_prompts: int, quick: bool, clip: str, log) -> dict:
    """Everything the command reports: tokenizer, generation per category and N (reranked by the
    ``clip`` spec's engine when it loads), guidance at N=1, caption sensitivity."""
    t0 = time.time()
    ns = (1, 4, 16) if quick else (1, 4, 16, 64)
    tok = tokenizer_eval(dalle.vq, oracle, n=300 if quick else 1000)
    log(f"tokenizer: oracle ratio {tok['tokenizer_oracle_ratio']:.3f}, PSNR {tok['psnr']:.1f} dB")
    engine, clip_problem = _clip_engine(clip, log)
    if engine is None:
        ns = (1,)
    from tqdm import tqdm
    bar = tqdm(total=n_prompts * len(CATEGORY_HEADS), desc="generate+judge", file=sys.stderr)
    gen = generation_eval(dalle, oracle, n_per_category=n_prompts, n_max=max(ns) if max(ns) > 1 else 16,
                          ns=ns, clip_engine=engine, settings=settings, progress=bar.update)
    bar.close()
    guidance = {}
    for s in sorted({1.0, 2.0, 3.0, settings["cond_scale"]}):  # guidance at N=1, single objects and held-out pairs
        g = generation_eval(dalle, oracle, n_per_category=n_prompts, n_max=16, ns=(1,), clip_engine=None,
                            settings={**settings, "cond_scale": s}, categories=("single", "heldout"))
        guidance[str(s)] = {k: v["1"] for k, v in g.items()}
    sensitivity = caption_sensitivity(dalle, n=16 if quick else 48)
    log(f"object-token loss {sensitivity['object_loss']:.3f} nats, with another shape named "
        f"{sensitivity['object_loss_other_shape']:.3f}; prefers its own shape: {sensitivity['prefers_own_shape']:.0%}")
    return {
        "tokenizer_oracle_ratio": round(tok["tokenizer_oracle_ratio"], 4),
        "caption_sensitivity": sensitivity,
        "tokenizer": tok,
        "top1_accuracy": {k: v for k, v in gen["single"].items() if k.isdigit()},   # keyed by N, raw cosine
        # the same, ranked as the generation plugin ranks (N = 1 has no ranking)
        "top1_accuracy_ranked": {k: v for k, v in ranked_view(gen)["single"].items() if k.isdigit()},
        "categories": gen,
        "guidance_n1": guidance,
        "settings": settings, "prompts_per_category": n_prompts,
        "clip": clip if engine is not None else f"unavailable ({clip_problem})",
        "weights": str(dalle.path), "seconds": round(time.time() - t0, 1), "quick": quick,
    }


def _pct(x: float | None, width: int) -> str:
    return f"{float('nan') if x is None else x:{width}.1%}"


def _rows(gen: dict, ns, value, spread=None, indent: str = "") -> list[str]:
    """One line per category: ``value(r, n)`` (± ``spread(r, n)``) for each N, from a category's result r."""
    def cell(r: dict, n: str) -> str:
        return _pct(value(r, n), 6) + (f" ±{_pct(spread(r, n), 4)}" if spread else " " * 7)
    return [f"{cat:10s} {indent}" + " ".join(cell(gen[cat], str(n)) for n in ns) for cat in CATEGORY_ORDER]


def report(result: dict) -> str:
    """The human table: accuracy by category and N, the ceiling, the studio's ranking, the tokenizer."""
    gen, n_prompts = result["categories"], result["prompts_per_category"]
    ns = [int(n) for n in gen["single"] if n.isdigit()]
    lines = [f"{'category':10s} " + " ".join(f"N={n:<11}" for n in ns) + f"(± standard error over {n_prompts} prompts)"]
    lines += _rows(gen, ns, lambda r, n: r.get(n), lambda r, n: r["stderr"].get(n))
    if len(ns) > 1:
        lines.append("at least one right candidate among N (what a perfect reranker would reach):")
        lines += _rows(gen, ns[1:], lambda r, n: r["ceiling"].get(n), indent=" " * 13)
        lines.append("ranked as the generation plugin ranks (margin over the prompt's nearest contradiction, "
                     "smoothed views: ml_core.rerank.rank_scores):")
        lines += _rows(gen, ns[1:], lambda r, n: r.get("ranked", {}).get(n),
                       lambda r, n: r.get("ranked_stderr", {}).get(n), indent=" " * 13)
    tok = result["tokenizer"]
    lines.append(f"tokenizer oracle ratio {tok['tokenizer_oracle_ratio']:.3f}  PSNR {tok['psnr']:.1f} dB  "
                 f"guidance (single, N=1) {result['guidance_n1']}")
    return "\n".join(lines)


def write_plots(folder: Path, dalle, result: dict) -> None:
    """Accuracy vs N as the studio ranks and by raw cosine, and a grid of samples, into ``folder``."""
    settings, gen = result["settings"], result["categories"]
    about = f"(cond {settings['cond_scale']:g}, top-k {settings['top_k']})"
    folder.mkdir(parents=True, exist_ok=True)
    plot_accuracy(ranked_view(gen), folder / "dalle_accuracy_vs_n.png",
                  f"oracle accuracy of the top-1 as the studio ranks it vs N {about}")
    plot_accuracy(gen, folder / "dalle_accuracy_vs_n_raw.png", f"oracle accuracy of the top-1 by raw CLIP cosine vs N {about}")
    prompts = [s for cat in ("single", "count", "relation", "heldout") for s in eval_prompts(2)[cat][:2]]
    sample_grid(dalle, [canonical_caption(s) for s in prompts], 8, folder / "dalle_samples.png", settings)


def main(argv: list[str] | None = None) -> int:
    from ml_core.dalle.pipeline import load_dalle

    p = argparse.ArgumentParser(prog="python -m ml_core.eval dalle")
    p.add_argument("--weights", default=None, help="default ml_core/weights/dalle")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line last")
    p.add_argument("--quick", action="store_true", help="few prompts, N up to 16")
    p.add_argument("--prompts", type=int, default=None, help="prompts per category (default 16, quick 4)")
    p.add_argument("--cond-scale", type=float, default=None, help="guidance (default: the weights' sampling)")
    p.add_argument("--temperature", type=float, default=None, help="default: the weights' sampling")
    p.add_argument("--top-k", type=int, default=None, help="default: the weights' sampling (0: no top-k)")
    p.add_argument("--plots", default=None, metavar="DIR",
                   help="write the accuracy plots and a sample grid into this folder (default: no files)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clip", default="demo", help="CLIP spec of the reranker (ml_core.clip registry)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    dalle = load_dalle(a.weights)
    given = {"temperature": a.temperature, "top_k": a.top_k, "cond_scale": a.cond_scale}
    settings = {**dalle.sampling, **{k: v for k, v in given.items() if v is not None}}
    settings["top_k"] = settings["top_k"] or None   # --top-k 0: sample from every token
    result = evaluate(dalle, Oracle.load(), settings, n_prompts=a.prompts or (4 if a.quick else 16), quick=a.quick,
                      clip=a.clip, log=lambda m: print(m, file=sys.stderr))
    print(report(result))
    if a.plots:
        write_plots(Path(a.plots), dalle, result)
    if a.json:
        print(json.dumps(result))
    return 0
