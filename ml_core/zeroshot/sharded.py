"""Zero-shot tagging at any size: two passes over shards of stored vectors, on the worker's device.

    pass 1 (statistics): per tag, count / sum / sum of squares of the cosines, per shard; shards
                         combine by addition, so the default cutoff mean + k·std needs no score matrix;
    pass 2 (selection):  per shard, every (photo, tag) at or above the tag's cutoff (multi), or the
                         best tag when its probability reaches min_prob (exclusive), keeping at most
                         `cap` per tag, the most confident.

Only one block of rows × tags scores exists at a time (`block` rows), so memory is bounded by the
block, whatever the collection's size; the matrix products run in torch on `device` (CUDA with
fp16 autocast when there, else CPU float32).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .score import CLIP_LOGIT_SCALE

BLOCK = 8192


@dataclass
class TagStats:
    """Sufficient statistics of each tag's cosines over some rows (float64, [T] each)."""
    count: np.ndarray
    total: np.ndarray
    squares: np.ndarray

    @classmethod
    def zeros(cls, tags: int) -> "TagStats":
        return cls(np.zeros(tags), np.zeros(tags), np.zeros(tags))

    def __add__(self, other: "TagStats") -> "TagStats":
        return TagStats(self.count + other.count, self.total + other.total, self.squares + other.squares)

    def cutoffs(self, k: float) -> np.ndarray:
        """mean + k·std per tag (population std, as numpy's default); 1.0 where nothing was seen."""
        n = np.maximum(self.count, 1)
        mean = self.total / n
        var = np.maximum(self.squares / n - mean * mean, 0.0)
        return np.where(self.count > 0, mean + k * np.sqrt(var), 1.0)

    def as_json(self) -> dict:
        return {"count": self.count.tolist(), "total": self.total.tolist(), "squares": self.squares.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "TagStats":
        return cls(*(np.asarray(data[k], dtype=np.float64) for k in ("count", "total", "squares")))


def _tags_on(tag_matrix: np.ndarray, device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(tag_matrix, dtype=np.float32), device=device).T.contiguous()


def _cosines(block: np.ndarray, tags_t: torch.Tensor) -> torch.Tensor:
    """[B, T] float32 cosines of one block (fp16 matmul under autocast on CUDA)."""
    x = torch.as_tensor(np.asarray(block, dtype=np.float32), device=tags_t.device)
    if tags_t.device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.float16):
            return (x @ tags_t).float()
    return x @ tags_t


def tag_stats(vectors: np.ndarray, tag_matrix: np.ndarray, *, device="cpu", block: int = BLOCK) -> TagStats:
    """Statistics of every tag's cosines over `vectors` [N, D] (a shard), block by block."""
    tags_t = _tags_on(tag_matrix, device)
    stats = TagStats.zeros(tags_t.shape[1])
    for start in range(0, len(vectors), block):
        cos = _cosines(vectors[start:start + block], tags_t).double()
        stats = stats + TagStats(np.full(tags_t.shape[1], float(len(cos))), cos.sum(0).cpu().numpy(),
                                 (cos * cos).sum(0).cpu().numpy())
    return stats


def _cap_per_tag(rows: torch.Tensor, cols: torch.Tensor, conf: torch.Tensor, cap: int):
    """The `cap` most confident (row, tag) pairs of each tag."""
    if cap <= 0 or len(conf) == 0:
        return rows, cols, conf
    order = torch.argsort(conf, descending=True, stable=True)
    rows, cols, conf = rows[order], cols[order], conf[order]
    by_tag = torch.argsort(cols, stable=True)  # grouped by tag, most confident first within a tag
    rows, cols, conf = rows[by_tag], cols[by_tag], conf[by_tag]
    starts = torch.searchsorted(cols, cols, right=False)
    keep = (torch.arange(len(cols), device=cols.device) - starts) < cap
    return rows[keep], cols[keep], conf[keep]


def select_block(block: np.ndarray, tags_t: torch.Tensor, *, mode: str, cutoffs: torch.Tensor | None = None,
                 min_prob: float = 0.0, cap: int = 0, scale: float = CLIP_LOGIT_SCALE):
    """(rows, tag indices, confidence) of one block, at most `cap` per tag (0: no cap)."""
    cos = _cosines(block, tags_t)
    if mode == "exclusive":
        probs = torch.softmax(cos * scale, dim=1)
        conf, cols = probs.max(dim=1)
        rows = torch.nonzero(conf >= min_prob).flatten()
        cols, conf = cols[rows], conf[rows]
    else:
        rows, cols = torch.nonzero(cos >= cutoffs[None, :], as_tuple=True)
        conf = cos[rows, cols]
    return _cap_per_tag(rows, cols, conf, cap)


def select(vectors: np.ndarray, tag_matrix: np.ndarray, *, mode: str, cutoffs=None, min_prob: float = 0.0,
           cap: int = 0, device="cpu", block: int = BLOCK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Suggestions of a shard as numpy arrays (rows, tag indices, confidence), at most `cap` per tag."""
    tags_t = _tags_on(tag_matrix, device)
    cut = None if cutoffs is None else torch.as_tensor(np.asarray(cutoffs, np.float32), device=tags_t.device)
    kept = None
    for start in range(0, len(vectors), block):
        r, c, p = select_block(vectors[start:start + block], tags_t, mode=mode, cutoffs=cut, min_prob=min_prob,
                               cap=cap)
        r = r + start
        # the running best `cap` per tag: never more than 2 × cap × T pairs held at once
        kept = (r, c, p) if kept is None else _cap_per_tag(*(torch.cat([a, b]) for a, b in zip(kept, (r, c, p))), cap)
    if kept is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    rows, cols, conf = kept
    return rows.cpu().numpy(), cols.cpu().numpy(), conf.float().cpu().numpy()
