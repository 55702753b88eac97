"""The closed vocabulary of the synthetic world: colours, shapes, sizes, counts, positions,
relations, backgrounds and their words.

Everything else (sampling, captions, the oracle's label indices, zero-shot prompts) is derived
from these tuples, so their ORDER IS PART OF THE CHECKPOINT FORMAT: append, never reorder.
"""
from __future__ import annotations

# name -> sRGB. Saturated and well apart in hue so that every colour stays readable at 32 px.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38), "orange": (245, 130, 20), "yellow": (240, 210, 30), "green": (40, 160, 60),
    "cyan": (30, 190, 200), "blue": (40, 80, 220), "purple": (130, 50, 190), "pink": (240, 100, 180),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

# Caption synonyms (the canonical word first). Kept unambiguous: no word names two colours.
COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet"),
    "orange": ("orange", "tangerine", "amber"),
    "yellow": ("yellow", "golden", "lemon"),
    "green": ("green", "emerald", "forest green"),
    "cyan": ("cyan", "turquoise", "teal"),
    "blue": ("blue", "cobalt", "royal blue"),
    "purple": ("purple", "violet", "amethyst"),
    "pink": ("pink", "rose", "hot pink"),
}

SHAPE_NAMES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross", "heart", "diamond", "hexagon",
)
# (singular, plural) synonyms, canonical first.
SHAPE_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "circle": (("circle", "circles"), ("disc", "discs"), ("ball", "balls"), ("dot", "dots")),
    "square": (("square", "squares"), ("box", "boxes"), ("block", "blocks")),
    "triangle": (("triangle", "triangles"), ("triangular shape", "triangular shapes")),
    "star": (("star", "stars"), ("five-pointed star", "five-pointed stars")),
    "cross": (("cross", "crosses"), ("plus sign", "plus signs")),
    "heart": (("heart", "hearts"), ("heart shape", "heart shapes"), ("love heart", "love hearts")),
    "diamond": (("diamond", "diamonds"), ("rhombus", "rhombuses"), ("lozenge", "lozenges")),
    "hexagon": (("hexagon", "hexagons"), ("six-sided shape", "six-sided shapes")),
}

# Diameter of an object as a fraction of the image side.
SIZES: dict[str, float] = {"small": 0.17, "large": 0.28}
SIZE_NAMES: tuple[str, ...] = tuple(SIZES)
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "large": ("large", "big", "huge"),
}

COUNTS: tuple[int, ...] = (1, 2, 3)
COUNT_WORDS: dict[int, tuple[str, ...]] = {
    1: ("one", "a single"),
    2: ("two", "a pair of", "2"),
    3: ("three", "3", "a group of three"),
}

# Where a single-kind group sits (anchor in relative x, y; y grows downwards).
POSITIONS: dict[str, tuple[float, float]] = {
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.25),
    "bottom": (0.5, 0.75),
    "centre": (0.5, 0.5),
}
POSITION_NAMES: tuple[str, ...] = tuple(POSITIONS)
POSITION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("on the left", "on the left side", "at the left"),
    "right": ("on the right", "on the right side", "at the right"),
    "top": ("at the top", "near the top", "in the upper part"),
    "bottom": ("at the bottom", "near the bottom", "in the lower part"),
    "centre": ("in the centre", "in the middle", "at the center"),
}

# Relation "subject <predicate> object"; the first phrase is canonical.
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
RELATION_PHRASES: dict[str, tuple[str, ...]] = {
    "left of": ("to the left of", "left of", "on the left of"),
    "right of": ("to the right of", "right of", "on the right of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "beneath"),
}
INVERSE_RELATION: dict[str, str] = {
    "left of": "right of", "right of": "left of", "above": "below", "below": "above",
}
# "A with B to its right" when A is left of B.
WITH_PHRASES: dict[str, str] = {
    "left of": "to its right", "right of": "to its left", "above": "below it", "below": "above it",
}

# Backgrounds are neutral (saturation < 0.2), so no background is confusable with an object colour.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (240, 240, 236), "light grey": (200, 200, 200), "grey": (140, 140, 140), "charcoal": (60, 60, 64),
    "black": (20, 20, 22), "cream": (236, 228, 208), "sand": (196, 184, 160), "slate": (100, 106, 118),
}
BACKGROUND_NAMES: tuple[str, ...] = tuple(BACKGROUNDS)
BACKGROUND_KINDS: tuple[str, ...] = ("plain", "gradient", "texture")
TEXTURES: tuple[str, ...] = ("stripes", "checker", "noise")

# Colour+shape pairs never shown in the train split (8 of 64 = 12.5%). Chosen as a permutation
# (shape i gets colour (3i+1) mod 8) so every colour and every shape is still seen in training
# with seven partners: a model can only fail these by failing to compose, not by never seeing a word.
HELDOUT_PAIRS: frozenset[tuple[str, str]] = frozenset({
    ("orange", "circle"), ("cyan", "square"), ("purple", "triangle"), ("yellow", "star"),
    ("blue", "cross"), ("red", "heart"), ("green", "diamond"), ("pink", "hexagon"),
})


def article(phrase: str) -> str:
    """'a' or 'an' for the phrase (by its first letter; good enough for this closed vocabulary)."""
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def vocab_export() -> dict[str, list]:
    """Label lists with canonical words, for zero-shot prompts and eval tables."""
    return {
        "colours": list(COLOUR_NAMES),
        "shapes": list(SHAPE_NAMES),
        "sizes": list(SIZE_NAMES),
        "counts": [{"count": n, "word": COUNT_WORDS[n][0]} for n in COUNTS],
        "positions": [{"position": p, "phrase": POSITION_PHRASES[p][0]} for p in POSITION_NAMES],
        "relations": [{"relation": r, "phrase": RELATION_PHRASES[r][0]} for r in RELATIONS],
        "shape_plurals": {s: SHAPE_WORDS[s][0][1] for s in SHAPE_NAMES},
        "heldout_pairs": sorted([list(p) for p in HELDOUT_PAIRS]),
    }


def zero_shot_prompts() -> dict[str, dict[str, str]]:
    """One canonical prompt per class of each head, for zero-shot classification of single scenes
    (class label -> prompt). Ensembling over templates belongs to ml_core.zeroshot."""
    return {
        "colour": {c: f"a photo of {article(c)} {c} shape" for c in COLOUR_NAMES},
        "shape": {s: f"a photo of {article(s)} {s}" for s in SHAPE_NAMES},
        "count": {str(n): ("a photo of one shape" if n == 1 else f"a photo of {COUNT_WORDS[n][0]} shapes")
                  for n in COUNTS},
        "position": {p: f"a photo of a shape {POSITION_PHRASES[p][0]}" for p in POSITION_NAMES},
        "size": {z: f"a photo of {article(z)} {z} shape" for z in SIZE_NAMES},
    }
