"""Seeded scene sampling: layouts, backgrounds, the train/heldout split.

`scene_at(seed, index, split)` is the one entry point datasets use: each (seed, index, split)
owns its own numpy Generator, so any image can be re-created alone, in any order, in any worker.
"""
from __future__ import annotations

import numpy as np

from .scene import Background, Obj, Relation, Scene
from .vocab import (BACKGROUND_NAMES, COLOUR_NAMES, HELDOUT_PAIRS, POSITION_NAMES, POSITIONS,
                    RELATIONS, SHAPE_NAMES, SIZE_NAMES, TEXTURES)

SPLITS: tuple[str, ...] = ("train", "heldout", "all")
KINDS: tuple[str, ...] = ("single", "pair")
ALL_PAIRS: tuple[tuple[str, str], ...] = tuple((c, s) for c in COLOUR_NAMES for s in SHAPE_NAMES)
TRAIN_PAIRS: tuple[tuple[str, str], ...] = tuple(p for p in ALL_PAIRS if p not in HELDOUT_PAIRS)
HELDOUT_LIST: tuple[tuple[str, str], ...] = tuple(p for p in ALL_PAIRS if p in HELDOUT_PAIRS)
PAIR_PROB = 0.4  # share of two-object relation scenes when kind is not forced

# Group layouts for counts 2-3, offsets from the position's anchor. Columns at left/right,
# rows at top/bottom, a diagonal / triangle in the centre: spacing > large size, so no overlap.
_COLUMN = {2: ((0, -0.16), (0, 0.16)), 3: ((0, -0.3), (0, 0.0), (0, 0.3))}
_ROW = {n: tuple((dy, dx) for dx, dy in offs) for n, offs in _COLUMN.items()}
_CLUSTER = {2: ((-0.12, -0.12), (0.12, 0.12)),
            3: ((0.0, -0.19), (0.165, 0.095), (-0.165, 0.095))}
_GROUP = {"left": _COLUMN, "right": _COLUMN, "top": _ROW, "bottom": _ROW, "centre": _CLUSTER}


def split_ok(scene: Scene, split: str) -> bool:
    """train: no held-out pair; heldout: at least one; all: anything."""
    if split == "train":
        return not scene.uses_heldout()
    if split == "heldout":
        return scene.uses_heldout()
    return True


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def group_centres(position: str, count: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Relative (x, y) centres for `count` objects grouped at `position`, with small jitter."""
    ax, ay = POSITIONS[position]
    if count == 1:
        return [(ax + rng.uniform(-0.04, 0.04), ay + rng.uniform(-0.04, 0.04))]
    gx, gy = rng.uniform(-0.02, 0.02, size=2)
    return [(ax + dx + gx + rng.uniform(-0.015, 0.015), ay + dy + gy + rng.uniform(-0.015, 0.015))
            for dx, dy in _GROUP[position][count]]


def pair_centres(predicate: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(subject, object) centres satisfying `predicate`, e.g. subject on the left for 'left of'."""
    near, far = 0.28 + rng.uniform(-0.03, 0.03), 0.72 + rng.uniform(-0.03, 0.03)
    across = 0.5 + rng.uniform(-0.12, 0.12)
    a, b = across + rng.uniform(-0.04, 0.04), across + rng.uniform(-0.04, 0.04)
    if predicate in ("left of", "right of"):
        pts = [(near, a), (far, b)]
    else:
        pts = [(a, near), (b, far)]
    return pts if predicate in ("left of", "above") else pts[::-1]


def sample_background(rng: np.random.Generator) -> Background:
    kind = _pick(rng, ("plain", "plain", "gradient", "texture"))
    colour = _pick(rng, BACKGROUND_NAMES)
    if kind == "plain":
        return Background("plain", colour)
    if kind == "gradient":
        other = _pick(rng, tuple(c for c in BACKGROUND_NAMES if c != colour))
        return Background("gradient", colour, other, angle=float(rng.uniform(0, 360)))
    return Background("texture", colour, angle=float(rng.uniform(0, 180)),
                      pattern=_pick(rng, TEXTURES), frequency=float(rng.uniform(2, 6)),
                      seed=int(rng.integers(2**31)))


def _rot(rng: np.random.Generator) -> float:
    return float(rng.uniform(-8, 8))


def sample_single(rng, split: str = "train", *, count: int | None = None,
                  position: str | None = None) -> Scene:
    colour, shape = _pick(rng, _pairs_for(split))
    size = _pick(rng, SIZE_NAMES)
    count = count or int(rng.integers(1, 4))
    position = position or _pick(rng, POSITION_NAMES)
    objs = tuple(Obj(shape, colour, size, float(x), float(y), _rot(rng))
                 for x, y in group_centres(position, count, rng))
    return Scene("single", objs, sample_background(rng), count, position=position)


def sample_pair(rng, split: str = "train", *, predicate: str | None = None) -> Scene:
    """Two objects that differ in colour AND shape (so relation and binding swaps are visible)."""
    a = _pick(rng, _pairs_for("heldout" if split == "heldout" else split))
    rest = _pairs_for("all" if split == "heldout" else split)
    b = _pick(rng, tuple(p for p in rest if p[0] != a[0] and p[1] != a[1]))
    if split == "heldout" and rng.random() < 0.5:
        a, b = b, a
    predicate = predicate or _pick(rng, RELATIONS)
    pts = pair_centres(predicate, rng)
    objs = tuple(Obj(s, c, _pick(rng, SIZE_NAMES), float(x), float(y), _rot(rng))
                 for (c, s), (x, y) in zip((a, b), pts))
    return Scene("pair", objs, sample_background(rng), 2, relation=Relation(0, predicate, 1))


def sample_scene(rng: np.random.Generator, split: str = "train", kind: str | None = None) -> Scene:
    """One scene from `rng`; `kind` None mixes single (60%) and pair (40%) scenes."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if kind is None:
        kind = "pair" if rng.random() < PAIR_PROB else "single"
    if kind == "single":
        return sample_single(rng, split)
    if kind == "pair":
        return sample_pair(rng, split)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def scene_rng(seed: int, index: int, split: str = "train", stream: int = 0) -> np.random.Generator:
    """Independent generator per (seed, index, split, stream); stream 1 is used for captions."""
    return np.random.default_rng([int(seed), int(index), SPLITS.index(split), int(stream)])


def scene_at(seed: int, index: int, split: str = "train", kind: str | None = None) -> Scene:
    """The scene number `index` of the world `seed` (same arguments -> same scene, always)."""
    scene = sample_scene(scene_rng(seed, index, split), split, kind)
    scene.meta.update(seed=int(seed), index=int(index), split=split)
    return scene


def _pairs_for(split: str) -> tuple[tuple[str, str], ...]:
    return {"train": TRAIN_PAIRS, "heldout": HELDOUT_LIST, "all": ALL_PAIRS}[split]
