"""The synthetic world's part of a model profile: what a CLIP trained on it knows.

    python -m ml_core.synth profile ml_core/weights/demo_clip      # (re)writes its world sections

Writes into the weights folder's ``atelier_profile.json`` (ml_core/clip/profile.py) the words of the
world (``known_words``: every word its captions use, less function words), and the ranking the
studio uses for Atelier's own DALL·E images: the margin over the prompt's one-fact contradictions
(this module's provider), on the picture and its 3x3 and 5x5 box blurs, with a bank of captions of a
world no training or evaluation uses for prompts naming none of the world's facts. The cutoff
section is written by ``python -m ml_core.calibrate``.
"""
from __future__ import annotations

from pathlib import Path

from ml_core.clip.profile import PROFILE_FILE, register_contradiction_provider, update_profile_file

from .captions import canonical_caption, captions
from .contradictions import contradictions
from .sampling import scene_at, scene_rng

PROVIDER = "ml_core.synth.contradictions:contradictions"
BANK_WORLD, BANK_SIZE = 2718, 256   # not training's world (0), the eval's, nor validation's
RANK_VIEWS = (0, 1, 2)              # chosen on the validation world, confirmed on the eval's
MEASURED_BACKENDS = ("atelier-dalle",)
FUNCTION_WORDS = frozenset("a an the of on in at to and with its it is are there than that all this "
                           "photo image picture rendering showing shows".split())
VOCAB_SCENES = 3000

register_contradiction_provider("atelier-synth", contradictions)


def known_words(scenes: int = VOCAB_SCENES) -> list[str]:
    """Every word the world's captions use (all phrasings of `scenes` scenes), less function words."""
    words: set[str] = set()
    for i in range(scenes):
        for caption in captions(scene_at(0, i, "all"), scene_rng(0, i, "all", stream=1), 8):
            words.update(caption.lower().replace(",", " ").replace("-", " ").split())
    return sorted(w for w in words - FUNCTION_WORDS if w.isalpha())


def caption_bank() -> list[str]:
    return [canonical_caption(scene_at(BANK_WORLD, i, "all")) for i in range(BANK_SIZE)]


def write_world_profile(folder: str | Path) -> Path:
    return update_profile_file(
        Path(folder) / PROFILE_FILE,
        labels={"name": "Atelier demo CLIP (coloured shapes)",
                "ranking": "how much better CLIP finds the picture matches the prompt than the prompt's "
                           "closest contradiction (another colour, shape, count, place)",
                "vocabulary": "colours (red, orange, yellow, green, cyan, blue, purple, pink), shapes (circle, "
                              "square, triangle, star, cross, heart, diamond, hexagon), sizes, counts up to three "
                              "and places (left, right, top, bottom, centre)"},
        ranking={"method": "margin", "views": list(RANK_VIEWS), "backends": list(MEASURED_BACKENDS),
                 "caption_bank": caption_bank(), "contradictions": PROVIDER},
        known_words=known_words())
