"""Ground truth of one synthetic image: plain frozen dataclasses that round-trip through JSON.

Geometry is relative (x, y in [0, 1], y grows downwards, sizes as a fraction of the image side),
so one scene renders identically at any resolution.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from .vocab import HELDOUT_PAIRS, SIZES


@dataclass(frozen=True)
class Obj:
    """One drawn object. `size` names the class; `scale` is its diameter relative to the image."""

    shape: str
    colour: str
    size: str
    x: float  # centre, relative
    y: float
    rotation: float = 0.0  # degrees, small (|r| <= 8) so a square never becomes a diamond

    @property
    def scale(self) -> float:
        return SIZES[self.size]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) relative box around the object's unit circle."""
        h = self.scale / 2
        return (self.x - h, self.y - h, self.x + h, self.y + h)


@dataclass(frozen=True)
class Background:
    """Neutral background: plain colour, two-colour gradient, or a low-contrast texture."""

    kind: str  # "plain" | "gradient" | "texture"
    colour: str
    colour2: str | None = None  # gradient end colour
    angle: float = 0.0  # degrees: gradient direction / stripe orientation
    pattern: str | None = None  # texture: "stripes" | "checker" | "noise"
    frequency: float = 4.0  # texture periods across the image
    seed: int = 0  # texture noise seed


@dataclass(frozen=True)
class Relation:
    """objects[subject] <predicate> objects[object], e.g. 0 'left of' 1."""

    subject: int
    predicate: str  # one of vocab.RELATIONS
    object: int


@dataclass(frozen=True)
class Scene:
    """A whole image's truth.

    kind "single": `count` identical objects (same shape, colour, size) grouped at `position`.
    kind "pair": two objects differing in BOTH colour and shape, linked by `relation`
    (subject is always objects[0]); `count` is 2 and `position` is None.
    """

    kind: str
    objects: tuple[Obj, ...]
    background: Background
    count: int
    position: str | None = None
    relation: Relation | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)  # e.g. seed/index/split

    # -- convenience ---------------------------------------------------------------------------
    @property
    def first(self) -> Obj:
        return self.objects[0]

    def combos(self) -> set[tuple[str, str]]:
        """(colour, shape) pairs used by the scene."""
        return {(o.colour, o.shape) for o in self.objects}

    def uses_heldout(self) -> bool:
        return bool(self.combos() & HELDOUT_PAIRS)

    def with_objects(self, objects) -> "Scene":
        return replace(self, objects=tuple(objects))

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["objects"] = [dict(asdict(o), bbox=list(o.bbox)) for o in self.objects]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "Scene":
        objs = tuple(Obj(**{k: v for k, v in o.items() if k != "bbox"}) for o in d["objects"])
        rel = Relation(**d["relation"]) if d.get("relation") else None
        return cls(kind=d["kind"], objects=objs, background=Background(**d["background"]),
                   count=d["count"], position=d.get("position"), relation=rel,
                   meta=dict(d.get("meta") or {}))

    @classmethod
    def from_json(cls, s: str) -> "Scene":
        return cls.from_dict(json.loads(s))


def uses_heldout(scene: Scene) -> bool:
    """True when any object's colour+shape pair is one of vocab.HELDOUT_PAIRS."""
    return scene.uses_heldout()
