"""Tag text embeddings: each tag's name and synonyms through every template, averaged (CLIP's ensembling).

The class vector is the normalised mean of the unit text vectors of all (name or synonym) × template
prompts, exactly as the CLIP paper (and open_clip's ``build_zero_shot_classifier``) builds it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .templates import resolve_templates

EncodeTexts = Callable[[list[str]], np.ndarray]  # texts -> [N, D] unit float32 rows


@dataclass(frozen=True)
class TagText:
    name: str
    synonyms: tuple[str, ...] = field(default_factory=tuple)

    def names(self) -> list[str]:
        seen, out = set(), []
        for n in (self.name, *self.synonyms):
            n = n.strip()
            if n and n.lower() not in seen:
                seen.add(n.lower())
                out.append(n)
        return out


def prompts_for(tag: TagText, templates: Sequence[str]) -> list[str]:
    return [t.format(n) for n in tag.names() for t in templates]


def tag_matrix(encode_texts: EncodeTexts, tags: Sequence[TagText | str], templates=None) -> np.ndarray:
    """[T, D] float32 unit rows, one per tag (normalised mean over its prompts)."""
    templates = resolve_templates(templates)
    tags = [TagText(t) if isinstance(t, str) else t for t in tags]
    prompts = [prompts_for(t, templates) for t in tags]
    flat = [p for ps in prompts for p in ps]
    if not flat:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = np.asarray(encode_texts(flat), dtype=np.float32)
    out = np.empty((len(tags), vectors.shape[1]), dtype=np.float32)
    start = 0
    for i, ps in enumerate(prompts):
        mean = vectors[start:start + len(ps)].mean(axis=0)
        out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        start += len(ps)
    return out


class TagMatrixCache:
    """LRU of tag matrices keyed by (model_id, vocabulary key, vocabulary version)."""

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.misses = 0

    def get_or_build(self, key: tuple, build: Callable[[], np.ndarray]) -> np.ndarray:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self.misses += 1
            self._items[key] = value
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


tag_cache = TagMatrixCache()


def cached_tag_matrix(encode_texts: EncodeTexts, *, model_id: str, key, version, tags, templates=None) -> np.ndarray:
    """``tag_matrix`` cached per (model_id, key, version): bump the version when the text changes."""
    return tag_cache.get_or_build((model_id, key, version), lambda: tag_matrix(encode_texts, tags, templates))
