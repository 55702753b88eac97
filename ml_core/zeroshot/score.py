"""Scoring stored image embeddings against a tag matrix, chunk by chunk (bounded memory).

    cos = vectors @ tag_matrix.T                                  [N, T], computed `chunk` rows at a time
    exclusive: p = softmax(scale · cos) over the vocabulary       (scale = CLIP's logit scale, 100)
    multi:     cos itself, compared with a per-tag threshold

With `top_k`, only the k best tags per photo are kept (indices and values, best first), so the
extra memory is one chunk × T scores plus N × k results, whatever N is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP_LOGIT_SCALE = 100.0
MODES = ("exclusive", "multi")


@dataclass
class TopK:
    indices: np.ndarray  # [N, k] int32 tag indices, best first
    values: np.ndarray   # [N, k] float32 cosine (multi) or probability (exclusive)


def _chunk_scores(block: np.ndarray, tags_t: np.ndarray, mode: str, scale: float) -> np.ndarray:
    cos = np.asarray(block, dtype=np.float32) @ tags_t
    if mode == "multi":
        return cos
    logits = cos * np.float32(scale)
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k per row, best first (torch.topk: multi-threaded, ~8x numpy's argpartition)."""
    import torch

    values, idx = torch.topk(torch.from_numpy(scores), k, dim=1, largest=True, sorted=True)
    return idx.numpy().astype(np.int32), values.numpy()


def score(vectors: np.ndarray, tag_matrix: np.ndarray, *, mode: str = "multi", chunk: int = 8192,
          top_k: int | None = None, scale: float = CLIP_LOGIT_SCALE):
    """Scores [N, D] unit vectors against [T, D] unit tag rows. Returns the full [N, T] float32
    scores, or a ``TopK`` with the best `top_k` tags per photo."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    n, t = len(vectors), len(tag_matrix)
    tags_t = np.ascontiguousarray(np.asarray(tag_matrix, dtype=np.float32).T)
    if top_k is None:
        out = np.empty((n, t), dtype=np.float32)
    else:
        k = min(top_k, t)
        out = TopK(np.empty((n, k), dtype=np.int32), np.empty((n, k), dtype=np.float32))
    for start in range(0, n, chunk):
        scores = _chunk_scores(vectors[start:start + chunk], tags_t, mode, scale)
        if top_k is None:
            out[start:start + len(scores)] = scores
        else:
            idx, vals = _top_k(scores, k)
            out.indices[start:start + len(scores)] = idx
            out.values[start:start + len(scores)] = vals
    return out


def predict(vectors: np.ndarray, tag_matrix: np.ndarray, *, chunk: int = 8192) -> np.ndarray:
    """Exclusive zero-shot prediction: the best tag index per photo."""
    return score(vectors, tag_matrix, mode="multi", chunk=chunk, top_k=1).indices[:, 0]


def select(vectors: np.ndarray, tag_matrix: np.ndarray, *, mode: str, thresholds=None, min_prob: float = 0.0,
           chunk: int = 8192, scale: float = CLIP_LOGIT_SCALE):
    """Suggestions as flat arrays (rows, tag_indices, confidence, cutoff):
    exclusive: the best tag of each photo when its probability ≥ `min_prob`;
    multi: every tag whose cosine ≥ its threshold (`thresholds`: [T] array)."""
    rows, cols, conf, cut = [], [], [], []
    if mode == "exclusive":
        best = score(vectors, tag_matrix, mode="exclusive", chunk=chunk, top_k=1, scale=scale)
        keep = np.nonzero(best.values[:, 0] >= min_prob)[0]
        return keep, best.indices[keep, 0], best.values[keep, 0], np.full(len(keep), min_prob, np.float32)
    thresholds = np.asarray(thresholds, dtype=np.float32)
    tags_t = np.ascontiguousarray(np.asarray(tag_matrix, dtype=np.float32).T)
    for start in range(0, len(vectors), chunk):
        cos = _chunk_scores(vectors[start:start + chunk], tags_t, "multi", scale)
        r, c = np.nonzero(cos >= thresholds[None, :])
        rows.append(r + start)
        cols.append(c)
        conf.append(cos[r, c])
        cut.append(thresholds[c])
    if not rows:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32), np.zeros(0, np.float32)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(conf), np.concatenate(cut)
