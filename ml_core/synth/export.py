"""Write a folder of rendered images plus captions.jsonl (one JSON line per image).

Re-runnable: images already on disk are kept (they are deterministic), captions.jsonl is always
rewritten whole through a temporary file, so an interrupted export resumes where it stopped.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from .captions import captions
from .render import render
from .sampling import scene_at, scene_rng
from .vocab import COLOUR_NAMES, SHAPE_NAMES


def export(out: str | Path, n: int, seed: int = 0, size: int = 256, split: str = "train",
           fmt: str = "png", n_captions: int = 5, progress: bool = True) -> Path:
    """Images 000000.png... and captions.jsonl; returns the jsonl path.

    Line: {"file", "caption" (a random phrasing), "captions" (canonical first), "queries" (the
    "a {colour} {shape}" searches the image answers), "scene" (ground truth), "heldout" (uses a
    held-out colour+shape pair)}. queries.txt lists every colour+shape search of the world (most of
    them answered by no image of a small export: what `python -m ml_core.calibrate --queries` takes)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "captions.jsonl.tmp"
    with tmp.open("w") as f:
        for i in tqdm(range(n), desc=f"export {split}", disable=not progress):
            scene = scene_at(seed, i, split)
            name = f"{i:06d}.{fmt}"
            if not (out / name).exists():
                _save(render(scene, size), out / name, fmt)
            caps = captions(scene, scene_rng(seed, i, split, stream=1), n_captions + 1)
            f.write(json.dumps({"file": name, "caption": caps[1 if len(caps) > 1 else 0],
                                "captions": caps, "queries": object_queries(scene), "scene": scene.to_dict(),
                                "heldout": scene.uses_heldout()}) + "\n")
    os.replace(tmp, out / "captions.jsonl")
    (out / "queries.txt").write_text("".join(f"a {c} {s}\n" for c in COLOUR_NAMES for s in SHAPE_NAMES))
    return out / "captions.jsonl"


def object_queries(scene) -> list[str]:
    """The searches a scene answers: "a {colour} {shape}" for each kind of object it shows."""
    return sorted({f"a {o.colour} {o.shape}" for o in scene.objects})


def _save(pixels, path: Path, fmt: str) -> None:
    """Write through a temporary name so an interrupted run never leaves a half image."""
    tmp = path.with_name(path.name + ".part")
    Image.fromarray(pixels).save(tmp, format="JPEG" if fmt in ("jpg", "jpeg") else "PNG",
                                 **({"quality": 95} if fmt in ("jpg", "jpeg") else {}))
    os.replace(tmp, path)
