"""Evaluate a CLIP model on held-out scenes of the synthetic world, through the platform's engine.

What is measured (all on scenes of world ``EVAL_SEED``, which training never uses):

* ``zeroshot``: colour / shape / count / position of single scenes whose colour+shape pairs were
  seen in training, by zero-shot classification: each class is the normalised mean embedding of
  several prompt templates (as in the CLIP paper), the prediction the most similar class.
* ``heldout_combo``: the same on single scenes of the held-out colour+shape pairs.
* ``retrieval``: text -> image R@1/5/10 over ``n_retrieval`` mixed scenes, querying with each
  scene's canonical caption; a hit is an image the caption is true of (two scenes may differ only
  in size or background, which the caption does not mention).
* ``relation``: on pair scenes, the true caption must beat the caption with the objects swapped
  ("a blue square to the left of a red circle"); ``binding``: it must beat the caption with the
  colours swapped ("a blue circle to the left of a red square").

Images go through ``engine.encode_images`` (PIL renders at the model's input size) and texts
through ``engine.encode_texts``, exactly what ingestion and search use.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ml_core.synth import canonical_caption, render, scene_at, swap_colours_caption, swap_relation_caption
from ml_core.synth.vocab import (COLOUR_NAMES, COUNT_WORDS, COUNTS, POSITION_NAMES, POSITION_PHRASES,
                                 SHAPE_NAMES, SHAPE_WORDS, article)

EVAL_SEED = 90_210  # world used only for evaluation (training uses --seed, 0 by default)
HEADS = ("color", "shape", "count", "position")
TARGETS = {"color": 0.97, "shape": 0.97, "count": 0.90, "position": 0.90,
           "r10": 0.80, "relation": 0.90, "binding": 0.90}
FULL = {"n_zeroshot": 1000, "n_retrieval": 1000, "n_pairs": 1000}
QUICK = {"n_zeroshot": 200, "n_retrieval": 300, "n_pairs": 200}

COLOUR_TEMPLATES = ("a photo of a {} shape", "a {} object", "something {}", "a picture of a {} thing",
                    "an image of {} shapes")
SHAPE_TEMPLATES = ("a photo of {a} {s}", "{a} {s}", "an image of {a} {s}", "a picture of {p}",
                   "a photo of {p}")
COUNT_TEMPLATES = ("a photo of {n} {shapes}", "{n} {objects}", "an image of {n} {things}")
POSITION_TEMPLATES = ("a photo of a shape {}", "an object {}", "something {}", "a picture of a thing {}")


def class_prompts() -> dict[str, dict[str, list[str]]]:
    """head -> class label -> prompts (the class embedding is their normalised mean)."""
    shape = {s: [t.format(a=article(s), s=s, p=SHAPE_WORDS[s][0][1]) for t in SHAPE_TEMPLATES]
             for s in SHAPE_NAMES}
    count = {}
    for n in COUNTS:
        word = COUNT_WORDS[n][0]
        nouns = dict(shapes="shape", objects="object", things="thing") if n == 1 else \
            dict(shapes="shapes", objects="objects", things="things")
        count[str(n)] = [t.format(n=word, **nouns) for t in COUNT_TEMPLATES]
    return {
        "color": {c: [t.format(c) for t in COLOUR_TEMPLATES] for c in COLOUR_NAMES},
        "shape": shape,
        "count": count,
        "position": {p: [t.format(ph) for t in POSITION_TEMPLATES for ph in POSITION_PHRASES[p][:2]]
                     for p in POSITION_NAMES},
    }


def truth(scene, head: str) -> str:
    o = scene.first
    return {"color": o.colour, "shape": o.shape, "count": str(scene.count), "position": scene.position}[head]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-12)


def encode_scenes(engine, scenes) -> np.ndarray:
    images = [Image.fromarray(render(s, engine.image_size)) for s in scenes]
    result = engine.encode_images(images)
    if result.errors:
        raise RuntimeError(f"images failed to encode: {result.errors}")
    return result.vectors


def class_embeddings(engine, prompts: dict[str, list[str]]) -> tuple[list[str], np.ndarray]:
    labels = list(prompts)
    return labels, _unit(np.stack([_unit(engine.encode_texts(prompts[c])).mean(0) for c in labels]))


def zeroshot(engine, scenes, image_vecs: np.ndarray) -> dict[str, float]:
    out = {}
    for head, prompts in class_prompts().items():
        labels, classes = class_embeddings(engine, prompts)
        pred = (image_vecs @ classes.T).argmax(1)
        out[head] = float(np.mean([labels[p] == truth(s, head) for p, s in zip(pred, scenes)]))
    return out


def retrieval(engine, scenes, image_vecs: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    texts = [canonical_caption(s) for s in scenes]
    text_vecs = engine.encode_texts(texts)
    order = np.argsort(-(text_vecs @ image_vecs.T), axis=1)[:, :max(ks)]  # (queries, k)
    index = {}
    for i, t in enumerate(texts):
        index.setdefault(t, set()).add(i)
    hits = np.array([[j in index[t] for j in row] for t, row in zip(texts, order)])
    return {f"r{k}": float(hits[:, :k].any(1).mean()) for k in ks}


def pair_tests(engine, scenes, image_vecs: np.ndarray) -> dict[str, float]:
    true = engine.encode_texts([canonical_caption(s) for s in scenes])
    rel = engine.encode_texts([swap_relation_caption(s) for s in scenes])
    col = engine.encode_texts([swap_colours_caption(s) for s in scenes])
    score = lambda t: np.einsum("nd,nd->n", image_vecs, t)  # noqa: E731
    return {"relation": float(np.mean(score(true) > score(rel))),
            "binding": float(np.mean(score(true) > score(col)))}


@dataclass
class EvalScenes:
    seen: list
    heldout: list
    mixed: list
    pairs: list


def eval_scenes(n_zeroshot: int, n_retrieval: int, n_pairs: int, seed: int = EVAL_SEED) -> EvalScenes:
    return EvalScenes(
        seen=[scene_at(seed, i, "train", "single") for i in range(n_zeroshot)],
        heldout=[scene_at(seed, i, "heldout", "single") for i in range(n_zeroshot)],
        mixed=[scene_at(seed + 1, i, "all") for i in range(n_retrieval)],
        pairs=[scene_at(seed + 2, i, "all", "pair") for i in range(n_pairs)],
    )


def evaluate(engine, *, n_zeroshot: int = 1000, n_retrieval: int = 1000, n_pairs: int = 1000,
             seed: int = EVAL_SEED) -> dict:
    """All metrics as fractions in [0, 1] (see the module docstring)."""
    sc = eval_scenes(n_zeroshot, n_retrieval, n_pairs, seed)
    seen = zeroshot(engine, sc.seen, encode_scenes(engine, sc.seen))
    held = zeroshot(engine, sc.heldout, encode_scenes(engine, sc.heldout))
    pairs = pair_tests(engine, sc.pairs, encode_scenes(engine, sc.pairs))
    return {"zeroshot": seen, "heldout_combo": held,
            "retrieval": retrieval(engine, sc.mixed, encode_scenes(engine, sc.mixed)), **pairs,
            "n": {"zeroshot": n_zeroshot, "retrieval": n_retrieval, "pairs": n_pairs}}


def table(result: dict) -> str:
    """Human-readable table with the targets."""
    def row(name, value, target=None):
        mark = "" if target is None else ("  ok" if value >= target else f"  below target {target:.2f}")
        return f"  {name:<26}{value:6.3f}{mark}"

    lines = [f"{'zero-shot (single scenes)':<28}{'seen':>6}{'held-out':>10}{'gap':>8}"]
    for h in HEADS:
        s, o = result["zeroshot"][h], result["heldout_combo"][h]
        flag = "" if s >= TARGETS[h] and o >= TARGETS[h] and s - o <= 0.05 else "  (target missed)"
        lines.append(f"  {h:<26}{s:6.3f}{o:10.3f}{s - o:+8.3f}{flag}")
    lines.append("text -> image retrieval")
    for k in ("r1", "r5", "r10"):
        lines.append(row(k.upper(), result["retrieval"][k], TARGETS.get(k)))
    lines.append("pairs: true caption vs swapped")
    lines.append(row("relation (objects swapped)", result["relation"], TARGETS["relation"]))
    lines.append(row("binding (colours swapped)", result["binding"], TARGETS["binding"]))
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse

    from ml_core.clip import create_engine

    parser = argparse.ArgumentParser(prog="python -m ml_core.eval clip", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="demo", help="model spec (default: demo)")
    parser.add_argument("--quick", action="store_true", help="fewer scenes (%s)" % QUICK)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    start = time.time()
    engine = create_engine(args.model, device=args.device)
    result = evaluate(engine, **sizes)
    result["model_id"], result["seconds"] = engine.model_id, round(time.time() - start, 1)
    print(f"CLIP eval of {engine.model_id} on held-out world {EVAL_SEED} "
          f"({'quick' if args.quick else 'full'}: {sizes}), {result['seconds']} s")
    print(table(result))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0
