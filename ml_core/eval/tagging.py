"""Evaluate zero-shot tagging on held-out scenes of the synthetic world, before and after review.

* exclusive vocabularies ``colour`` and ``shape`` (8 tags each) on single scenes: accuracy of the
  zero-shot prediction (template ensemble, softmax at the logit scale), then after learning from
  m ∈ {5, 20, 100} reviewed photos per tag (one-vs-rest logistic probes on the stored vectors).
* one multi-label vocabulary of the 16 colour and shape words on mixed scenes (a pair scene shows
  two colours and two shapes): micro precision / recall / F1 with the default cutoff (mean + k·std
  of the tag's scores), then with m reviewed photos per tag: the F1-calibrated cutoff and a probe.

Reviewed photos come from a separate pool than the photos measured. ``--json`` prints one JSON line.
"""
from __future__ import annotations

import json
import time

import numpy as np
from PIL import Image

from ml_core.synth import render, scene_at
from ml_core.synth.vocab import COLOUR_NAMES, SHAPE_NAMES
from ml_core.zeroshot import LogisticProbe, distribution_threshold, f1_threshold, predict, tag_matrix

EVAL_SEED = 90_210
REVIEWED = (5, 20, 100)


def _embed(engine, scenes) -> np.ndarray:
    size = engine.image_size
    return engine.encode_images([Image.fromarray(render(s, size)) for s in scenes]).vectors


def _labels(scenes, names, attr) -> np.ndarray:
    y = np.zeros((len(scenes), len(names)), bool)
    for i, s in enumerate(scenes):
        for o in s.objects:
            y[i, names.index(getattr(o, attr))] = True
    return y


def _prf(pred: np.ndarray, truth: np.ndarray) -> dict:
    tp = float((pred & truth).sum())
    p = tp / max(pred.sum(), 1)
    r = tp / max(truth.sum(), 1)
    return {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(2 * p * r / max(p + r, 1e-12)), 4)}


def _sample_per_tag(y: np.ndarray, m: int, rng) -> list[np.ndarray]:
    """For each tag: m reviewed photos, half showing it where possible (what a reviewer decides on)."""
    out = []
    for j in range(y.shape[1]):
        pos, neg = np.nonzero(y[:, j])[0], np.nonzero(~y[:, j])[0]
        k = min(len(pos), max(1, m // 2))
        out.append(np.concatenate([rng.choice(pos, k, replace=False), rng.choice(neg, min(len(neg), m - k), replace=False)]))
    return out


def exclusive(engine, names, attr, n_test, n_pool, templates, rng) -> dict:
    test = [scene_at(EVAL_SEED, i, "all", "single") for i in range(n_test)]
    pool = [scene_at(EVAL_SEED + 1, i, "all", "single") for i in range(n_pool)]
    x_test, x_pool = _embed(engine, test), _embed(engine, pool)
    y_test = np.array([names.index(getattr(s.objects[0], attr)) for s in test])
    y_pool = _labels(pool, names, attr)
    m = tag_matrix(engine.encode_texts, names, templates)
    out = {"zero_shot_accuracy": round(float((predict(x_test, m) == y_test).mean()), 4)}
    for r in REVIEWED:
        probs = np.zeros((n_test, len(names)))
        for j, idx in enumerate(_sample_per_tag(y_pool, r, rng)):
            if y_pool[idx, j].all() or not y_pool[idx, j].any():
                probs[:, j] = x_test @ m[j]
                continue
            probs[:, j] = LogisticProbe(l2=1.0).fit(x_pool[idx], y_pool[idx, j]).predict_proba(x_test)
        out[f"probe_accuracy_{r}"] = round(float((probs.argmax(axis=1) == y_test).mean()), 4)
    return out


def multi(engine, n_test, n_pool, templates, rng, k) -> dict:
    names = list(COLOUR_NAMES) + list(SHAPE_NAMES)
    test = [scene_at(EVAL_SEED + 2, i, "all") for i in range(n_test)]
    pool = [scene_at(EVAL_SEED + 3, i, "all") for i in range(n_pool)]
    x_test, x_pool = _embed(engine, test), _embed(engine, pool)
    y_test = np.hstack([_labels(test, list(COLOUR_NAMES), "colour"), _labels(test, list(SHAPE_NAMES), "shape")])
    y_pool = np.hstack([_labels(pool, list(COLOUR_NAMES), "colour"), _labels(pool, list(SHAPE_NAMES), "shape")])
    m = tag_matrix(engine.encode_texts, names, templates)
    cos_test, cos_pool = x_test @ m.T, x_pool @ m.T
    default = np.array([distribution_threshold(cos_test[:, j], k) for j in range(len(names))])
    out = {"default": _prf(cos_test >= default, y_test)}
    for r in REVIEWED:
        cut = default.copy()
        probe_pred = cos_test >= default
        for j, idx in enumerate(_sample_per_tag(y_pool, r, rng)):
            learned = f1_threshold(cos_pool[idx, j], y_pool[idx, j])
            if learned is not None:
                cut[j] = learned
                probe_pred[:, j] = LogisticProbe(l2=1.0).fit(x_pool[idx], y_pool[idx, j]).predict_proba(x_test) >= 0.5
        out[f"f1_cutoff_{r}"] = _prf(cos_test >= cut, y_test)
        out[f"probe_{r}"] = _prf(probe_pred, y_test)
    return out


def main(argv=None) -> int:
    import argparse

    from ml_core.clip import create_engine, model_status

    parser = argparse.ArgumentParser(prog="python -m ml_core.eval tagging", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="demo", help="CLIP spec (default: demo; random:atelier-demo-clip if not trained)")
    parser.add_argument("--templates", default="short", help="template set: imagenet, short, photo")
    parser.add_argument("--n", type=int, default=400, help="photos measured per vocabulary")
    parser.add_argument("--pool", type=int, default=800, help="photos reviewers may decide on")
    parser.add_argument("--k", type=float, default=1.0, help="default cutoff: mean + k·std")
    parser.add_argument("--quick", action="store_true", help="--n 100 --pool 300")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.pool = 100, 300
    model, note = args.model, ""
    status = model_status(model)
    if not status.ready:
        model, note = "random:atelier-demo-clip", f"{args.model} not ready ({status.message[:80]}...): random weights, chance level"
    started = time.perf_counter()
    engine = create_engine(model, device="cpu")
    rng = np.random.default_rng(args.seed)
    result = {
        "model_id": engine.model_id, "note": note, "templates": args.templates, "n": args.n, "pool": args.pool,
        "colour": exclusive(engine, list(COLOUR_NAMES), "colour", args.n, args.pool, args.templates, rng),
        "shape": exclusive(engine, list(SHAPE_NAMES), "shape", args.n, args.pool, args.templates, rng),
        "multi": multi(engine, args.n, args.pool, args.templates, rng, args.k),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result))
    else:
        for vocab in ("colour", "shape"):
            print(vocab, " ".join(f"{k}={v}" for k, v in result[vocab].items()))
        for k, v in result["multi"].items():
            print("multi", k, v)
        print(f"model {result['model_id']} {note} ({result['seconds']} s)")
    return 0
