"""`python -m ml_core.eval dalle [--weights DIR] [--json] [--quick]`: tokenizer and generation,
judged by the synth oracle; CLIP (the demo engine) only reranks. Writes a plot of accuracy vs N
and a grid of samples under docs/ml/ (see ml_core.dalle.evaluate for the protocol)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

CATEGORY_ORDER = ("single", "count", "position", "relation", "heldout")


def _clip_engine(spec: str, log):
    try:
        from ml_core.clip import get_engine
        return get_engine(spec), None
    except Exception as e:  # noqa: BLE001 - no demo CLIP: report and evaluate N=1 only
        log(f"demo CLIP unavailable ({type(e).__name__}: {e}); no reranking")
        return None, f"{type(e).__name__}: {e}"


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


def main(argv: list[str] | None = None) -> int:
    import torch
    from tqdm import tqdm

    from ml_core.dalle.evaluate import caption_sensitivity, eval_prompts, generation_eval, tokenizer_eval
    from ml_core.dalle.pipeline import load_dalle
    from ml_core.synth.oracle import Oracle

    p = argparse.ArgumentParser(prog="python -m ml_core.eval dalle")
    p.add_argument("--weights", default=None, help="default ml_core/weights/dalle")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line last")
    p.add_argument("--quick", action="store_true", help="few prompts, N up to 16")
    p.add_argument("--prompts", type=int, default=None, help="prompts per category (default 16, quick 4)")
    p.add_argument("--cond-scale", type=float, default=None, help="guidance (default: the weights' sampling)")
    p.add_argument("--temperature", type=float, default=None, help="default: the weights' sampling")
    p.add_argument("--top-k", type=int, default=None, help="default: the weights' sampling (0: no top-k)")
    p.add_argument("--plots", default=None, help="write the accuracy plots and a sample grid into this folder")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clip", default="demo", help="CLIP spec of the reranker (ml_core.clip registry)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    t0 = time.time()
    dalle = load_dalle(a.weights)
    oracle = Oracle.load()
    given = {"temperature": a.temperature, "top_k": a.top_k, "cond_scale": a.cond_scale}
    settings = {**dalle.sampling, **{k: v for k, v in given.items() if v is not None}}
    settings["top_k"] = settings["top_k"] or None   # --top-k 0: sample from every token
    cond = settings["cond_scale"]
    n_prompts = a.prompts or (4 if a.quick else 16)
    ns = (1, 4, 16) if a.quick else (1, 4, 16, 64)
    tok = tokenizer_eval(dalle.vq, oracle, n=300 if a.quick else 1000)
    log(f"tokenizer: oracle ratio {tok['tokenizer_oracle_ratio']:.3f}, PSNR {tok['psnr']:.1f} dB")
    engine, clip_problem = _clip_engine(a.clip, log)
    if engine is None:
        ns = (1,)
    bar = tqdm(total=n_prompts * 5, desc="generate+judge", file=sys.stderr)
    gen = generation_eval(dalle, oracle, n_per_category=n_prompts, n_max=max(ns) if max(ns) > 1 else 16,
                          ns=ns, clip_engine=engine, settings=settings, progress=bar.update)
    bar.close()
    guidance = {}
    for s in sorted({1.0, 2.0, 3.0, cond}):  # effect of guidance at N=1, single objects and held-out pairs
        g = generation_eval(dalle, oracle, n_per_category=n_prompts, n_max=16, ns=(1,), clip_engine=None,
                            settings={**settings, "cond_scale": s}, categories=("single", "heldout"))
        guidance[str(s)] = {k: v["1"] for k, v in g.items()}
    sensitivity = caption_sensitivity(dalle, n=16 if a.quick else 48)
    log(f"object-token loss {sensitivity['object_loss']:.3f} nats, with another shape named "
        f"{sensitivity['object_loss_other_shape']:.3f}; prefers its own shape: {sensitivity['prefers_own_shape']:.0%}")
    result = {
        "tokenizer_oracle_ratio": round(tok["tokenizer_oracle_ratio"], 4),
        "caption_sensitivity": sensitivity,
        "tokenizer": tok,
        "top1_accuracy": {k: v for k, v in gen["single"].items() if k.isdigit()},   # keyed by N, raw cosine
        # the same, ranked as the generation plugin ranks (N = 1 has no ranking)
        "top1_accuracy_ranked": {k: v for k, v in ranked_view(gen)["single"].items() if k.isdigit()},
        "categories": gen,
        "guidance_n1": guidance,
        "settings": settings, "prompts_per_category": n_prompts,
        "clip": a.clip if engine is not None else f"unavailable ({clip_problem})",
        "weights": str(dalle.path), "seconds": round(time.time() - t0, 1), "quick": a.quick,
    }
    print(f"{'category':10s} " + " ".join(f"N={n:<11}" for n in ns) + f"(± standard error over {n_prompts} prompts)")
    for cat in CATEGORY_ORDER:
        print(f"{cat:10s} " + " ".join(f"{gen[cat].get(str(n), float('nan')):6.1%} ±{gen[cat]['stderr'].get(str(n), float('nan')):4.1%}"
                                       for n in ns))
    if len(ns) > 1:
        print("at least one right candidate among N (what a perfect reranker would reach):")
        for cat in CATEGORY_ORDER:
            print(f"{cat:10s} {'':13s}" + " ".join(f"{gen[cat]['ceiling'].get(str(n), float('nan')):6.1%}{'':7s}"
                                                   for n in ns[1:]))
    if len(ns) > 1:
        print("ranked as the generation plugin ranks (margin over the prompt's nearest contradiction, "
              "smoothed views: ml_core.rerank.rank_scores):")
        for cat in CATEGORY_ORDER:
            ranked, se = gen[cat].get("ranked", {}), gen[cat].get("ranked_stderr", {})
            print(f"{cat:10s} {'':13s}" + " ".join(f"{ranked.get(str(n), float('nan')):6.1%} ±{se.get(str(n), float('nan')):4.1%}"
                                                   for n in ns[1:]))
    print(f"tokenizer oracle ratio {tok['tokenizer_oracle_ratio']:.3f}  PSNR {tok['psnr']:.1f} dB  "
          f"guidance (single, N=1) {guidance}")
    if a.plots:
        docs = Path(a.plots)
        docs.mkdir(parents=True, exist_ok=True)
        plot_accuracy(ranked_view(gen), docs / "dalle_accuracy_vs_n.png",
                      f"oracle accuracy of the top-1 as the studio ranks it vs N (cond {cond:g}, top-k {settings['top_k']})")
        plot_accuracy(gen, docs / "dalle_accuracy_vs_n_raw.png",
                      f"oracle accuracy of the top-1 by raw CLIP cosine vs N (cond {cond:g}, top-k {settings['top_k']})")
        prompts = [s for cat in ("single", "count", "relation", "heldout")
                   for s in eval_prompts(2)[cat][:2]]
        from ml_core.synth.captions import canonical_caption
        sample_grid(dalle, [canonical_caption(s) for s in prompts], 8, docs / "dalle_samples.png", settings)
    if a.json:
        print(json.dumps(result))
    return 0
