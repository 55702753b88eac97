"""Hard negatives for contrastive training and the `relation` / `binding` evaluations.

Image side: `variant(scene, factor)` returns the same scene (same background, same geometry where
the factor allows) changed in exactly one factor. Caption side: `swap_relation_caption` and
`swap_colours_caption` keep every word of the canonical caption but bind them wrongly, so only a
model that reads word order and attribute binding can tell them from the true caption.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .captions import canonical_caption
from .sampling import group_centres, split_ok
from .scene import Obj, Relation, Scene
from .vocab import COLOUR_NAMES, COUNTS, INVERSE_RELATION, POSITION_NAMES, SHAPE_NAMES, SIZE_NAMES

FACTORS: tuple[str, ...] = ("shape", "colour", "size", "position", "count", "relation")
SINGLE_FACTORS: tuple[str, ...] = ("shape", "colour", "size", "position", "count")
PAIR_FACTORS: tuple[str, ...] = ("shape", "colour", "size", "relation")


def factors_for(scene: Scene) -> tuple[str, ...]:
    return PAIR_FACTORS if scene.kind == "pair" else SINGLE_FACTORS


def _attribute_candidates(scene: Scene, attr: str, rng) -> list[Scene]:
    """All scenes with one attribute (`shape`/`colour`/`size`) changed: the whole group for
    single scenes, one object for pairs (keeping the two objects different in colour and shape)."""
    values = {"shape": SHAPE_NAMES, "colour": COLOUR_NAMES, "size": SIZE_NAMES}[attr]
    objs = scene.objects
    if scene.kind == "single":
        return [scene.with_objects(replace(o, **{attr: v}) for o in objs)
                for v in values if v != getattr(objs[0], attr)]
    taken = {getattr(o, attr) for o in objs} if attr != "size" else set()
    out = []
    for i in rng.permutation(len(objs)):
        for v in values:
            if v != getattr(objs[i], attr) and v not in taken:
                new = list(objs)
                new[i] = replace(objs[i], **{attr: v})
                out.append(scene.with_objects(new))
    return out


def _relayout(scene: Scene, position: str, count: int, rng) -> Scene:
    o = scene.first
    rots = [ob.rotation for ob in scene.objects] + [o.rotation] * 3
    objs = [replace(o, x=float(x), y=float(y), rotation=rots[i])
            for i, (x, y) in enumerate(group_centres(position, count, rng))]
    return replace(scene, objects=tuple(objs), position=position, count=count)


def _swap_places(scene: Scene) -> Scene:
    """Objects exchange centres, so the relation reverses: 'A left of B' -> 'A right of B'."""
    a, b = scene.objects
    rel = scene.relation
    objs = (replace(a, x=b.x, y=b.y), replace(b, x=a.x, y=a.y))
    return replace(scene, objects=objs,
                   relation=Relation(rel.subject, INVERSE_RELATION[rel.predicate], rel.object))


def _candidates(scene: Scene, factor: str, rng) -> list[Scene]:
    if factor in ("shape", "colour", "size"):
        return _attribute_candidates(scene, factor, rng)
    if factor == "relation" and scene.kind == "pair":
        return [_swap_places(scene)]
    if factor == "position" and scene.kind == "single":
        return [_relayout(scene, p, scene.count, rng) for p in POSITION_NAMES if p != scene.position]
    if factor == "count" and scene.kind == "single":
        return [_relayout(scene, scene.position, n, rng) for n in COUNTS if n != scene.count]
    raise ValueError(f"factor {factor!r} does not apply to a {scene.kind} scene "
                     f"(use one of {factors_for(scene)})")


def variant(scene: Scene, factor: str, rng: np.random.Generator,
            split: str | None = None) -> Scene:
    """`scene` changed in exactly `factor` (one of FACTORS; see factors_for), same background.

    With `split`, the result stays inside that split (e.g. never a held-out pair for "train");
    ValueError when no such variant exists (e.g. a held-out single scene has one held-out shape
    per colour, so its shape variant cannot stay held-out).
    """
    cands = [c for c in _candidates(scene, factor, rng) if split is None or split_ok(c, split)]
    if not cands:
        raise ValueError(f"no {factor} variant of this scene stays in split {split!r}")
    out = cands[int(rng.integers(len(cands)))]
    return replace(out, meta=dict(scene.meta, negative=factor))


def variants(scene: Scene, rng: np.random.Generator, split: str | None = None) -> dict[str, Scene]:
    """One variant per applicable factor (factors with no variant in `split` are left out)."""
    out = {}
    for f in factors_for(scene):
        try:
            out[f] = variant(scene, f, rng, split)
        except ValueError:
            continue
    return out


def swap_relation_caption(scene: Scene) -> str:
    """'a red circle left of a blue square' -> 'a blue square left of a red circle' (false)."""
    rel = scene.relation
    if rel is None:
        raise ValueError("relation swap needs a pair scene")
    return canonical_caption(replace(scene, relation=Relation(rel.object, rel.predicate, rel.subject)))


def swap_colours_caption(scene: Scene) -> str:
    """'a red circle left of a blue square' -> 'a blue circle left of a red square' (false).
    Pair objects always differ in colour, so this is never the true caption."""
    if scene.kind != "pair":
        raise ValueError("colour swap needs a pair scene")
    a, b = scene.objects
    return canonical_caption(scene.with_objects((replace(a, colour=b.colour), replace(b, colour=a.colour))))


def swap_shapes_caption(scene: Scene) -> str:
    """'a red circle left of a blue square' -> 'a red square left of a blue circle' (false)."""
    if scene.kind != "pair":
        raise ValueError("shape swap needs a pair scene")
    a, b = scene.objects
    return canonical_caption(scene.with_objects((replace(a, shape=b.shape), replace(b, shape=a.shape))))


def caption_negatives(scene: Scene, rng: np.random.Generator) -> dict[str, str]:
    """False canonical captions keyed by what they get wrong. Pairs: 'relation' (objects swapped),
    'binding' (colours swapped), 'binding_shape', plus 'shape'/'colour'; singles: one per factor
    except size (the canonical caption does not mention size)."""
    if scene.kind == "pair":
        out = {"relation": swap_relation_caption(scene), "binding": swap_colours_caption(scene),
               "binding_shape": swap_shapes_caption(scene)}
        factors = ("shape", "colour")
    else:
        out, factors = {}, ("shape", "colour", "position", "count")
    for f in factors:
        out[f] = canonical_caption(variant(scene, f, rng))
    return out
