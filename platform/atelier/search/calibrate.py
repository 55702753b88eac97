"""Calibrate the relevance cutoff of a CLIP model on held-out scenes of the synthetic world.

    PYTHONPATH=platform:. .venv/bin/python -m atelier.search.calibrate            # demo model
    PYTHONPATH=platform:. .venv/bin/python -m atelier.search.calibrate --model random:atelier-demo-clip --no-write

No Django needed. Two libraries of held-out scenes (``ml_core.synth``, split "heldout": every scene
uses a colour-shape pair the model never saw in training) are rendered and embedded: one to pick
the threshold, one to measure it. Queries are "a {colour} {shape}" for all 64 combinations plus
nonsense; a (query, photo) pair is relevant iff the scene holds an object of that colour and shape
(the scene is the ground truth). For each query the top 20 photos are what a user would see; a
result is *shown* when its cosine is at or above the threshold. The threshold maximising F1 on the
first library is kept; precision and recall of shown results, and how often a query without any
relevant photo correctly answers "no good match", are reported on the second. Writes the
threshold into ``cutoffs.json`` next to this file, keyed by the model id.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

TOP = 20
NONSENSE = ["xq zzv plmk", "a tax form", "a dog on the beach", "quarterly revenue report", "asdf qwer", "the moon at night"]


def library(engine, seed: int, n: int):
    from PIL import Image

    from ml_core.synth.render import render
    from ml_core.synth.sampling import scene_at

    scenes = [scene_at(seed, i, "heldout") for i in range(n)]
    size = max(engine.image_size, 64)
    images = [Image.fromarray(render(s, size)) for s in scenes]
    vectors = engine.encode_images(images).vectors
    return scenes, vectors


def queries():
    from ml_core.synth.vocab import COLOUR_NAMES as COLOURS, SHAPE_NAMES as SHAPES

    combos = [(c, s) for c in COLOURS for s in SHAPES]
    return [f"a {c} {s}" for c, s in combos] + NONSENSE, combos + [None] * len(NONSENSE)


def relevance(scenes, combos) -> np.ndarray:
    """[queries, photos] bool: the scene holds an object of the query's colour and shape."""
    rel = np.zeros((len(combos), len(scenes)), bool)
    for j, scene in enumerate(scenes):
        present = {(o.colour, o.shape) for o in scene.objects}
        for i, combo in enumerate(combos):
            rel[i, j] = combo in present
    return rel


def evaluate(scores: np.ndarray, rel: np.ndarray, threshold: float) -> dict:
    """Precision/recall of shown results (top TOP per query, score >= threshold)."""
    top = np.argsort(-scores, axis=1)[:, :TOP]
    rows = np.arange(len(scores))[:, None]
    shown = scores[rows, top] >= threshold
    hit = rel[rows, top]
    relevant_in_top = np.minimum(rel.sum(axis=1), TOP)
    tp = int((shown & hit).sum())
    precision = tp / max(int(shown.sum()), 1)
    recall = tp / max(int(relevant_in_top.sum()), 1)
    empty = rel.sum(axis=1) == 0
    no_match_ok = float((~shown[empty].any(axis=1)).mean()) if empty.any() else float("nan")
    match_ok = float(shown[~empty].any(axis=1).mean()) if (~empty).any() else float("nan")
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {"threshold": round(float(threshold), 4), "precision": round(precision, 3), "recall": round(recall, 3),
            "f1": round(f1, 3), "no_good_match_correct": round(no_match_ok, 3), "match_found": round(match_ok, 3),
            "queries_without_match": int(empty.sum())}


def calibrate(spec: str | None, n: int, seeds=(101, 202)) -> dict:
    from ml_core.clip import get_engine

    engine = get_engine(spec)
    texts, combos = queries()
    q = engine.encode_texts(texts)
    results = []
    for seed in seeds:
        scenes, vectors = library(engine, seed, n)
        results.append((q @ vectors.T, relevance(scenes, combos)))
    (fit_scores, fit_rel), (test_scores, test_rel) = results
    candidates = np.unique(np.round(np.quantile(fit_scores, np.linspace(0.5, 0.9995, 400)), 4))
    best = max(candidates, key=lambda t: evaluate(fit_scores, fit_rel, t)["f1"])
    return {"model_id": engine.model_id, "scenes_per_library": n, "top": TOP,
            "fit": evaluate(fit_scores, fit_rel, best), "heldout": evaluate(test_scores, test_rel, best),
            "threshold": float(best), "calibrated_at": time.strftime("%Y-%m-%d")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="CLIP model spec (default ATELIER_CLIP_MODEL / demo)")
    parser.add_argument("--scenes", type=int, default=600)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    report = calibrate(args.model, args.scenes)
    for name in ("fit", "heldout"):
        r = report[name]
        print(f"{name:8} threshold {r['threshold']:.4f}  precision {r['precision']:.3f}  recall {r['recall']:.3f}  "
              f"F1 {r['f1']:.3f}  no-good-match correct {r['no_good_match_correct']:.3f}  match found {r['match_found']:.3f}")
    if not args.no_write:
        table_path = Path(__file__).with_name("cutoffs.json")
        table = json.loads(table_path.read_text()) if table_path.exists() else {}
        table[report["model_id"]] = {"threshold": report["threshold"], "heldout": report["heldout"],
                                     "scenes_per_library": report["scenes_per_library"], "calibrated_at": report["calibrated_at"]}
        table_path.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        print(f"wrote {table_path}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
