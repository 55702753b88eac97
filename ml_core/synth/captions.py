"""Scene -> English captions, many phrasings and synonyms per scene.

A text encoder trained on one template learns the template; here each caption draws a template,
synonyms for colours, shapes, counts, positions and relations, and whether to mention size, so the
model has to read the words. `canonical_caption` is the one fixed phrasing, used by evaluations
and hard-negative captions (vocab's first word of every list).
"""
from __future__ import annotations

import numpy as np

from .scene import Obj, Scene
from .vocab import (COLOUR_WORDS, COUNT_WORDS, INVERSE_RELATION, POSITION_PHRASES,
                    RELATION_PHRASES, SHAPE_WORDS, SIZE_WORDS, WITH_PHRASES, article)

SINGLE_TEMPLATES = (
    "{np}", "a photo of {np}", "{np} {pos}", "a photo of {np} {pos}", "there is {np} {pos}",
    "an image of {np} {pos}", "{bare}", "{Pos}, {np}", "a picture showing {np}",
    "{ashape} that is {colour} {pos}", "a rendering of {np} {pos}",
)
MULTI_TEMPLATES = (
    "{np}", "a photo of {np}", "{np} {pos}", "a photo of {np} {pos}", "there are {np} {pos}",
    "an image with {np} {pos}", "{count} {shapes}, all {colour}, {pos}", "{Pos}, {np}",
    "a picture showing {np}",
)
PAIR_TEMPLATES = (
    "{A} {rel} {B}", "a photo of {A} {rel} {B}", "{A} with {B} {with}", "{B} {inv} {A}",
    "there is {A} {rel} {B}", "an image showing {A} {rel} {B}", "{Abare} {rel} {Bbare}",
)


class _Words:
    """Draws synonyms from one rng (or always the canonical word when rng is None)."""

    def __init__(self, rng: np.random.Generator | None, size_p: float = 0.35):
        self.rng, self.size_p = rng, size_p

    def pick(self, options):
        return options[0] if self.rng is None else options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return self.rng is not None and self.rng.random() < p

    def noun(self, obj: Obj, plural: bool = False) -> str:
        """'[size] colour shape(s)' without article."""
        sing, plur = self.pick(SHAPE_WORDS[obj.shape])
        words = [self.pick(COLOUR_WORDS[obj.colour]), plur if plural else sing]
        if self.chance(self.size_p):
            words.insert(0, self.pick(SIZE_WORDS[obj.size]))
        return " ".join(words)


def _with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def _single(scene: Scene, w: _Words, template: str | None) -> str:
    obj, n = scene.first, scene.count
    pos = w.pick(POSITION_PHRASES[scene.position])
    if n == 1:
        bare = w.noun(obj)
        np_ = f"one {bare}" if w.chance(0.15) else _with_article(bare)
        template = template or w.pick(SINGLE_TEMPLATES)
        ashape = _with_article(w.pick(SHAPE_WORDS[obj.shape])[0])
    else:
        count = w.pick(COUNT_WORDS[n])
        np_ = f"{count} {w.noun(obj, plural=True)}"
        bare, ashape = np_, ""
        template = template or w.pick(MULTI_TEMPLATES)
    return template.format(np=np_, pos=pos, Pos=pos[0].upper() + pos[1:], bare=bare, ashape=ashape,
                           colour=w.pick(COLOUR_WORDS[obj.colour]),
                           count=w.pick(COUNT_WORDS[n]),
                           shapes=w.pick(SHAPE_WORDS[obj.shape])[1])


def _pair(scene: Scene, w: _Words, template: str | None) -> str:
    rel = scene.relation
    a, b = scene.objects[rel.subject], scene.objects[rel.object]
    abare, bbare = w.noun(a), w.noun(b)
    template = template or w.pick(PAIR_TEMPLATES)
    return template.format(A=_with_article(abare), B=_with_article(bbare), Abare=abare, Bbare=bbare,
                           rel=w.pick(RELATION_PHRASES[rel.predicate]),
                           inv=w.pick(RELATION_PHRASES[INVERSE_RELATION[rel.predicate]]),
                           **{"with": WITH_PHRASES[rel.predicate]})


def _caption(scene: Scene, w: _Words, template: str | None = None) -> str:
    return (_pair if scene.kind == "pair" else _single)(scene, w, template)


def canonical_caption(scene: Scene) -> str:
    """Fixed phrasing: 'a red circle on the left', 'two green triangles at the top',
    'a red circle to the left of a blue square'."""
    template = "{A} {rel} {B}" if scene.kind == "pair" else "{np} {pos}"
    return _caption(scene, _Words(None), template)


def sample_caption(scene: Scene, rng: np.random.Generator) -> str:
    """One random phrasing."""
    return _caption(scene, _Words(rng))


def captions(scene: Scene, rng: np.random.Generator, n: int = 6) -> list[str]:
    """Canonical caption first, then up to n-1 distinct random phrasings."""
    out = [canonical_caption(scene)]
    for _ in range(8 * n):
        if len(out) >= n:
            break
        c = sample_caption(scene, rng)
        if c not in out:
            out.append(c)
    return out
