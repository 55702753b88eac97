"""Zero-shot tagging on stored CLIP embeddings: templates, ensembling, chunked scoring, thresholds.

Pure Python + numpy (no Django)::

    from ml_core.clip import get_engine
    from ml_core.zeroshot import tag_matrix, score, TagText
    engine = get_engine("demo")
    tags = tag_matrix(engine.encode_texts, [TagText("red", ("crimson",)), "blue"], "imagenet")
    top = score(image_vectors, tags, mode="exclusive", top_k=1)      # .indices, .values
"""
from .embed import TagMatrixCache, TagText, cached_tag_matrix, prompts_for, tag_cache, tag_matrix
from .score import CLIP_LOGIT_SCALE, MODES, TopK, predict, score, select
from .templates import (DEFAULT_TEMPLATES, IMAGENET_TEMPLATES, PHOTO_TEMPLATES, SHORT_TEMPLATES, TEMPLATE_SETS,
                        resolve_templates)
from .thresholds import DEFAULT_STD_K, LogisticProbe, distribution_threshold, f1_threshold

__all__ = [
    "CLIP_LOGIT_SCALE", "DEFAULT_STD_K", "DEFAULT_TEMPLATES", "IMAGENET_TEMPLATES", "LogisticProbe", "MODES",
    "PHOTO_TEMPLATES", "SHORT_TEMPLATES", "TEMPLATE_SETS", "TagMatrixCache", "TagText", "TopK",
    "cached_tag_matrix", "distribution_threshold", "f1_threshold", "predict", "prompts_for",
    "resolve_templates", "score", "select", "tag_cache", "tag_matrix",
]
