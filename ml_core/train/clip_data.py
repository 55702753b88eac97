"""Training batches for the demo CLIP: groups of near-identical scenes, captions and a match mask.

A random batch of synthetic scenes is told apart by colour, background and count alone, so the
contrastive loss never asks the model to see shape, position, relation order or which colour goes
with which shape. Here a batch is ``groups`` groups of up to ``group_size`` scenes: an anchor from
the train split plus variants of it (same background) that differ from it in one factor: for a
single scene one factor for the whole group (mostly shape: the same objects as six different
shapes; else position, count or colour), for a pair the relation, colours-swapped, shapes-swapped,
a shape or a colour changed. Inside a group only that factor separates the captions.

Captions are the world's random phrasings, or (for single scenes, ``partial`` of the time) a
caption naming only some facts ("a red shape", "three circles", "a shape at the top"), so the text
tower also understands the short queries zero-shot prompts and users write. Such a caption is true
of many images, so every caption gets a *meaning key* and every scene the set of keys it makes
true; ``match[i, j]`` says caption j is true of image i, and the loss ignores those pairs instead
of pushing them apart. Every image also brings one false canonical caption one factor away
(relation swapped, colours swapped, another shape...) as an extra text-only negative.

Every batch is a pure function of (seed, step): resuming at step k re-creates batch k exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import torch

from ml_core.synth import canonical_caption, render_batch, sample_caption, scene_at, split_ok, variant
from ml_core.synth.vocab import (COLOUR_WORDS, COUNT_WORDS, POSITION_PHRASES, SHAPE_WORDS, article)

SINGLE_GROUP_FACTORS = ("shape", "position", "count", "colour")
SINGLE_GROUP_WEIGHTS = (0.5, 0.25, 0.125, 0.125)
PAIR_FACTORS = ("shape", "colour", "relation", "swap_colours", "swap_shapes", "relation")
TEXT_SINGLE_FACTORS = ("shape", "shape", "position", "count", "colour")
TEXT_PAIR_FACTORS = ("swap_relation", "swap_colours", "swap_shapes", "shape")
FACTS = ("colour", "shape", "count", "position")
GENERIC_NOUNS = (("shape", "shapes"), ("object", "objects"), ("thing", "things"), ("figure", "figures"))
PARTIAL_TEMPLATES = ("{np}", "a photo of {np}", "an image of {np}", "a picture of {np}", "there is {np}")
# How often a partial caption names 1, 2 or 3 of the four facts.
PARTIAL_SIZES = (0.55, 0.3, 0.15)


@dataclass
class ClipBatch:
    """images uint8 (B, S, S, 3); texts: B captions (caption i belongs to image i) then the extra
    negatives; match bool (B, len(texts)): caption j is true of image i (the diagonal included)."""

    images: np.ndarray
    texts: list[str]
    match: np.ndarray
    scenes: list
    group: list[int]  # group number of each image


# ---- meaning keys ---------------------------------------------------------------------------

def _single_facts(scene) -> dict:
    o = scene.first
    return {"colour": o.colour, "shape": o.shape, "count": scene.count, "position": scene.position}


def _pair_key(scene) -> tuple:
    """Order-free key of a relation: 'A right of B' == 'B left of A'."""
    rel = scene.relation
    a, b = scene.objects[rel.subject], scene.objects[rel.object]
    pred = rel.predicate
    if pred in ("right of", "below"):
        a, b, pred = b, a, {"right of": "left of", "below": "above"}[pred]
    return ("pair", (a.colour, a.shape), pred, (b.colour, b.shape))


def signature(scene) -> tuple:
    """What captions can tell apart (not size, rotation, jitter or background)."""
    return _pair_key(scene) if scene.kind == "pair" else _facts_key(_single_facts(scene))


def _facts_key(facts: dict) -> tuple:
    return ("facts",) + tuple((f, facts[f]) for f in FACTS if f in facts)


def scene_keys(scene) -> set:
    """Every meaning key a caption may have and still be true of ``scene``."""
    if scene.kind == "pair":
        keys = {_pair_key(scene)}
        for o in scene.objects:  # "a red shape", "a circle", "a red circle" are true of a pair too
            keys |= {_facts_key(f) for f in ({"colour": o.colour}, {"shape": o.shape},
                                              {"colour": o.colour, "shape": o.shape})}
        return keys
    facts = _single_facts(scene)
    return {_facts_key({f: facts[f] for f in subset})
            for n in range(1, len(FACTS) + 1) for subset in combinations(FACTS, n)}


def caption_key(scene, text: str, facts: tuple[str, ...] | None = None) -> tuple:
    """Meaning of a caption written for ``scene``: the facts it names (``facts``), or for the
    world's own phrasings everything but size, and position only when a position phrase occurs."""
    if scene.kind == "pair":
        return _pair_key(scene)
    all_facts = _single_facts(scene)
    if facts is None:
        facts = ("colour", "shape", "count")
        if any(p.lower() in text.lower() for p in POSITION_PHRASES[scene.position]):
            facts += ("position",)
    return _facts_key({f: all_facts[f] for f in facts})


def match_matrix(scenes, keys) -> np.ndarray:
    """match[i, j] = caption key j is made true by scene i."""
    columns: dict[tuple, list[int]] = {}
    for j, key in enumerate(keys):
        columns.setdefault(key, []).append(j)
    match = np.zeros((len(scenes), len(keys)), dtype=bool)
    for i, scene in enumerate(scenes):
        for key in scene_keys(scene):
            match[i, columns.get(key, [])] = True
    return match


# ---- captions -------------------------------------------------------------------------------

def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def partial_caption(scene, rng, focus: str | None = None) -> tuple[str, tuple[str, ...]]:
    """A caption naming 1-3 of colour / shape / count / position of a single scene (always
    ``focus`` when given: the factor its group varies), and which."""
    n = 1 + int(rng.choice(len(PARTIAL_SIZES), p=PARTIAL_SIZES))
    chosen = set(int(i) for i in rng.choice(len(FACTS), n, replace=False))
    if focus in FACTS and FACTS.index(focus) not in chosen:
        chosen = (chosen - {min(chosen)}) | {FACTS.index(focus)}
    facts = tuple(FACTS[i] for i in sorted(chosen))
    o = scene.first
    plural = "count" in facts and scene.count > 1
    noun = _pick(rng, SHAPE_WORDS[o.shape]) if "shape" in facts else _pick(rng, GENERIC_NOUNS)
    words = [_pick(rng, COLOUR_WORDS[o.colour])] if "colour" in facts else []
    words.append(noun[1] if plural else noun[0])
    phrase = " ".join(words)
    if "count" in facts:
        phrase = f"{_pick(rng, COUNT_WORDS[scene.count])} {phrase}" if plural else f"one {phrase}"
    else:
        phrase = f"{article(phrase)} {phrase}"
    if "position" in facts:
        phrase = f"{phrase} {_pick(rng, POSITION_PHRASES[scene.position])}"
    return _pick(rng, PARTIAL_TEMPLATES).format(np=phrase), facts


def caption_for(scene, rng, partial: float, focus: str | None = None) -> tuple[str, tuple]:
    if scene.kind == "single" and rng.random() < partial:
        text, facts = partial_caption(scene, rng, focus)
        return text, caption_key(scene, text, facts)
    text = sample_caption(scene, rng)
    return text, caption_key(scene, text)


# ---- groups of near-identical scenes --------------------------------------------------------

def _swap(scene, attr: str):
    a, b = scene.objects
    return scene.with_objects((replace(a, **{attr: getattr(b, attr)}), replace(b, **{attr: getattr(a, attr)})))


def one_variant(scene, factor: str, rng, split: str = "train"):
    """``scene`` changed in ``factor`` and still inside ``split``, or None."""
    if factor in ("swap_colours", "swap_shapes"):
        out = _swap(scene, "colour" if factor == "swap_colours" else "shape")
        return out if split_ok(out, split) else None
    try:
        return variant(scene, factor, rng, split)
    except ValueError:
        return None


def make_group(anchor, size: int, rng, split: str = "train") -> tuple[list, str]:
    """``anchor`` and up to ``size - 1`` distinct variants of it that all differ from it in ONE
    factor (same background), and that factor. Single scenes: several shapes (or positions,
    counts, colours) of the same group of objects; pairs: the relation / colour / shape swaps."""
    if anchor.kind == "pair":
        factors, factor = list(PAIR_FACTORS), "pair"
    else:
        factor = str(rng.choice(SINGLE_GROUP_FACTORS, p=SINGLE_GROUP_WEIGHTS))
        factors = [factor] * (3 * size)
    rng.shuffle(factors)
    group = [anchor]
    for f in factors:
        if len(group) == size:
            break
        v = one_variant(anchor, f, rng, split)
        if v is not None and all(signature(v) != signature(g) for g in group):
            group.append(v)
    return group, factor


def clip_batch(seed: int, step: int, groups: int = 32, group_size: int = 4, size: int = 64,
               partial: float = 0.35, split: str = "train") -> ClipBatch:
    """Batch number ``step`` of world ``seed`` (deterministic). Anchors are scene indices
    ``step * groups + g``, so runs with the same ``groups`` never repeat an anchor."""
    rng = np.random.default_rng([seed, step, 0xC11F])
    scenes, focus, group_of = [], [], []
    for g in range(groups):
        group, factor = make_group(scene_at(seed, step * groups + g, split), group_size, rng, split)
        scenes += group
        focus += [factor] * len(group)
        group_of += [g] * len(group)
    texts, keys = [], []
    for s, factor in zip(scenes, focus):
        text, key = caption_for(s, rng, partial, factor)
        texts.append(text)
        keys.append(key)
    for s in scenes:  # one false canonical caption per image: text-only hard negatives
        false = text_negative(s, rng, split)
        if false is not None:
            texts.append(canonical_caption(false))
            keys.append(caption_key(false, texts[-1]))
    return ClipBatch(render_batch(scenes, size), texts, match_matrix(scenes, keys), scenes, group_of)


def text_negative(scene, rng, split: str = "train"):
    """A scene one factor away whose canonical caption is false for ``scene`` (or None): relation
    swapped / colours swapped / shapes swapped / a shape changed for pairs, mostly a shape change
    for single scenes. The eval's relation and binding negatives are the first two."""
    factors = TEXT_PAIR_FACTORS if scene.kind == "pair" else TEXT_SINGLE_FACTORS
    factor = _pick(rng, factors)
    if factor == "swap_relation":
        return _swap_relation_scene(scene)
    return one_variant(scene, factor, rng, split)


def _swap_relation_scene(scene):
    """The (false) scene ``swap_relation_caption`` describes: subject and object exchanged."""
    rel = scene.relation
    return replace(scene, relation=replace(rel, subject=rel.object, object=rel.subject))


def to_model_input(images: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 (B, S, S, 3) -> normalised float (B, 3, S, S), as the model's val transform does."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(mean).view(1, 3, 1, 1)
    std = torch.tensor(std).view(1, 3, 1, 1)
    return (x - mean) / std
