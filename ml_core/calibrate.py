"""Calibrate a CLIP model's "no good match" cutoff on any captioned image set, into its profile.

    python -m ml_core.calibrate --images DIR --captions DIR/captions.jsonl [--model SPEC]
        [--measure-images DIR2 --measure-captions DIR2/captions.jsonl] [--queries FILE]
        [--profile PATH | --no-write]

``captions.jsonl`` has one JSON object per image: ``{"file": "0001.png", "queries": ["a red
circle", ...]}`` (the queries the image answers; ``"caption"`` alone counts as its one query).
The queries are every image's queries, those of ``--queries`` (one per line: queries a user may ask
that no image answers) and a few out-of-domain ones (``NEGATIVES``); a (query, image) pair is
relevant when the image lists the query. For each query the top ``TOP`` images are what a user
would see; a result is shown when its cosine reaches the cutoff. The cutoff maximising F1 on the
first set is kept; its precision and recall, and how often a query without any relevant image
correctly answers "no good match", are measured on the second set (default: the second half of
the first). The label-free cutoff (no labels: the query's mean cosine over the library plus
``label_free_z`` standard deviations, ml_core.clip.profile) is measured on the same set, beside it.

Writes the ``search`` section of the model's profile (``atelier_profile.json`` beside its weights).
The demo model's figures (docs/search.md) come from:

    python -m ml_core.synth export var/calibrate/fit --n 600 --seed 101 --size 64 --split heldout
    python -m ml_core.synth export var/calibrate/measure --n 600 --seed 202 --size 64 --split heldout
    python -m ml_core.calibrate --images var/calibrate/fit --captions var/calibrate/fit/captions.jsonl \
        --measure-images var/calibrate/measure --measure-captions var/calibrate/measure/captions.jsonl \
        --queries var/calibrate/fit/queries.txt
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml_core.clip.profile import (LABEL_FREE_Z, label_free_cutoff, library_moments, profile_path_for,
                                  update_profile_file)

TOP = 20
NEGATIVES = ("xq zzv plmk", "a tax form", "a dog on the beach", "quarterly revenue report", "asdf qwer",
             "the moon at night")


@dataclass
class CaptionedSet:
    files: list[Path]
    queries: list[set[str]]   # per image: the queries it answers


def read_captioned_set(images: str | Path, captions: str | Path) -> CaptionedSet:
    """The images and their queries; a clear error names a bad line or a missing image."""
    folder, files, queries = Path(images), [], []
    for number, line in enumerate(Path(captions).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answers = set(row.get("queries") or [row["caption"]])
            path = folder / row["file"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{captions}:{number}: expected {{\"file\", \"queries\" or \"caption\"}} ({exc})") from None
        if not path.is_file():
            raise ValueError(f"{captions}:{number}: no image {path}")
        files.append(path)
        queries.append(answers)
    if len(files) < 2:
        raise ValueError(f"{captions}: a captioned set needs at least two images")
    return CaptionedSet(files, queries)


def relevance(captioned: CaptionedSet, texts: list[str]) -> np.ndarray:
    """[queries, images] bool: the image lists the query."""
    return np.array([[text in answers for answers in captioned.queries] for text in texts], dtype=bool)


def evaluate(scores: np.ndarray, rel: np.ndarray, threshold) -> dict:
    """Precision/recall of shown results (top TOP per query, score >= threshold; `threshold` may be
    one cutoff or one per query)."""
    top = np.argsort(-scores, axis=1)[:, :TOP]
    rows = np.arange(len(scores))[:, None]
    cut = np.broadcast_to(np.asarray(threshold, dtype=np.float64).reshape(-1, 1), (len(scores), 1))
    shown = scores[rows, top] >= cut
    hit = rel[rows, top]
    relevant_in_top = np.minimum(rel.sum(axis=1), TOP)
    tp = int((shown & hit).sum())
    precision = tp / max(int(shown.sum()), 1)
    recall = tp / max(int(relevant_in_top.sum()), 1)
    empty = rel.sum(axis=1) == 0
    no_match_ok = float((~shown[empty].any(axis=1)).mean()) if empty.any() else float("nan")
    match_ok = float(shown[~empty].any(axis=1).mean()) if (~empty).any() else float("nan")
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    out = {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
           "no_good_match_correct": round(no_match_ok, 3), "match_found": round(match_ok, 3),
           "queries_without_match": int(empty.sum())}
    if np.ndim(threshold) == 0:
        out["threshold"] = round(float(threshold), 4)
    return out


def label_free_thresholds(query_vectors: np.ndarray, library_vectors: np.ndarray, z: float) -> np.ndarray:
    """Each query's label-free cutoff over this library (its own moments: what search does)."""
    mean, covariance = library_moments(library_vectors)
    return np.array([label_free_cutoff(q, mean, covariance, z) for q in query_vectors])


def calibrate(engine, fit: CaptionedSet, measure: CaptionedSet, extra_queries=(), z: float = LABEL_FREE_Z) -> dict:
    texts = sorted(set().union(*fit.queries, *measure.queries, extra_queries) - set(NEGATIVES)) + list(NEGATIVES)
    q = engine.encode_texts(texts)
    (fit_scores, _), (test_scores, test_vectors) = [_scores(engine, q, part) for part in (fit, measure)]
    fit_rel, test_rel = relevance(fit, texts), relevance(measure, texts)
    candidates = np.unique(np.round(np.quantile(fit_scores, np.linspace(0.5, 0.9995, 400)), 4))
    best = max(candidates, key=lambda t: evaluate(fit_scores, fit_rel, t)["f1"])
    label_free = evaluate(test_scores, test_rel, label_free_thresholds(q, test_vectors, z))
    return {"model_id": engine.model_id, "images": [len(fit.files), len(measure.files)], "queries": len(texts),
            "top": TOP, "cutoff": float(best), "fit": evaluate(fit_scores, fit_rel, best),
            "heldout": evaluate(test_scores, test_rel, best), "label_free": {"z": z, **label_free},
            "calibrated_at": time.strftime("%Y-%m-%d")}


def _scores(engine, query_vectors: np.ndarray, captioned: CaptionedSet):
    embedded = engine.encode_images(captioned.files)
    if embedded.errors:
        raise ValueError(f"images that cannot be read: {list(embedded.errors.values())[:3]}")
    return query_vectors @ embedded.vectors.T, embedded.vectors


def split_halves(captioned: CaptionedSet) -> tuple[CaptionedSet, CaptionedSet]:
    half = len(captioned.files) // 2
    return (CaptionedSet(captioned.files[:half], captioned.queries[:half]),
            CaptionedSet(captioned.files[half:], captioned.queries[half:]))


def write_search_profile(path: Path, report: dict) -> Path:
    return update_profile_file(path, search={
        "cutoff": round(report["cutoff"], 4), "label_free_z": report["label_free"]["z"],
        "heldout": report["heldout"], "label_free_heldout": report["label_free"],
        "images": report["images"], "calibrated_at": report["calibrated_at"]})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_core.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="folder of the images the cutoff is fitted on")
    parser.add_argument("--captions", required=True, help="their captions.jsonl")
    parser.add_argument("--measure-images", help="folder of the images it is measured on (default: half of --images)")
    parser.add_argument("--measure-captions")
    parser.add_argument("--queries", help="file of extra queries, one per line (e.g. ones no image answers)")
    parser.add_argument("--model", default="demo", help="CLIP model spec (default: demo)")
    parser.add_argument("--z", type=float, default=LABEL_FREE_Z, help="label-free cutoff: standard deviations")
    parser.add_argument("--profile", help="profile file to write (default: beside the model's weights)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    from ml_core.clip import get_engine
    from ml_core.config import configure_from_env

    configure_from_env()
    engine = get_engine(args.model)
    fit = read_captioned_set(args.images, args.captions)
    if args.measure_images:
        measure = read_captioned_set(args.measure_images, args.measure_captions or Path(args.measure_images) / "captions.jsonl")
    else:
        fit, measure = split_halves(fit)
    extra = Path(args.queries).read_text().split("\n") if args.queries else []
    report = calibrate(engine, fit, measure, [e.strip() for e in extra if e.strip()], z=args.z)
    for name in ("fit", "heldout", "label_free"):
        r = report[name]
        cut = f"cutoff {r['threshold']:.4f}" if "threshold" in r else f"z {r['z']:.1f} (label-free)"
        print(f"{name:10} {cut:24} precision {r['precision']:.3f}  recall {r['recall']:.3f}  F1 {r['f1']:.3f}  "
              f"no-good-match correct {r['no_good_match_correct']:.3f}  match found {r['match_found']:.3f}")
    target = Path(args.profile) if args.profile else profile_path_for(engine.weights_path)
    if not args.no_write and target is not None:
        print(f"wrote {write_search_profile(target, report)}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
