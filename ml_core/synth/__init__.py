"""Atelier's procedural captioned-image world and its oracle.

Deterministic scenes of 1-3 coloured shapes (`scene_at(seed, index, split)`), rendered at any
resolution (`render`), captioned in many phrasings (`captions`), with one-factor hard negatives
(`variant`, `swap_relation_caption`, `swap_colours_caption`), a held-out set of colour+shape pairs
(`vocab.HELDOUT_PAIRS`, `split="heldout"`), torch datasets, and a CNN oracle that reads the
ground truth back from pixels (`Oracle.load().predict(images)`). No Django here.
"""
from .captions import canonical_caption, captions, sample_caption
from .dataset import SynthDataset, SynthStream, batches, collate, make_item
from .negatives import (caption_negatives, swap_colours_caption, swap_relation_caption,
                        swap_shapes_caption, variant, variants)
from .render import render, render_batch, to_tensor
from .sampling import sample_scene, scene_at, scene_rng, split_ok
from .scene import Background, Obj, Relation, Scene, uses_heldout
from .vocab import HELDOUT_PAIRS, vocab_export, zero_shot_prompts

__all__ = [
    "Background", "HELDOUT_PAIRS", "Obj", "Relation", "Scene", "SynthDataset", "SynthStream",
    "batches", "canonical_caption", "caption_negatives", "captions", "collate", "make_item",
    "render", "render_batch", "sample_caption", "sample_scene", "scene_at", "scene_rng",
    "split_ok", "swap_colours_caption", "swap_relation_caption", "swap_shapes_caption",
    "to_tensor", "uses_heldout", "variant", "variants", "vocab_export", "zero_shot_prompts",
]
