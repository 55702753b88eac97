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
        cos = _cosines(vectors[start:start + block], tags_t)  # float32 sums per block, float64 across
        stats = stats + TagStats(np.full(tags_t.shape[1], float(len(cos))), cos.sum(0).double().cpu().numpy(),
                                 cos.square_().sum(0).double().cpu().numpy())
    return stats


def _suggested(block: np.ndarray, tags_t: torch.Tensor, *, mode: str, cutoffs: torch.Tensor | None,
               min_prob: float, scale: float) -> torch.Tensor:
    """[B, T] confidences of the pairs a block suggests, -inf elsewhere: multi, cosine ≥ the tag's
    cutoff; exclusive, the best tag's probability when ≥ min_prob (and ≥ `cutoffs`, if given)."""
    cos = _cosines(block, tags_t)
    if mode == "exclusive":
        conf, best = torch.softmax(cos * scale, dim=1).max(dim=1)
        out = torch.full_like(cos, -torch.inf)
        rows = torch.nonzero(conf >= min_prob).flatten()
        out[rows, best[rows]] = conf[rows]
        cos = out
    if cutoffs is not None:
        cos = cos.masked_fill_(cos < cutoffs[None, :], -torch.inf)
    return cos


def block_top(block: np.ndarray, tags_t: torch.Tensor, *, mode: str, cutoffs: torch.Tensor | None = None,
              min_prob: float = 0.0, cap: int = 0, scale: float = CLIP_LOGIT_SCALE):
    """Each tag's best `cap` suggestions of one block, dense and tag-major: ([T, k] confidences, -inf
    where none; [T, k] row indices), k = min(cap, rows); every suggestion when cap is 0."""
    scores = _suggested(block, tags_t, mode=mode, cutoffs=cutoffs, min_prob=min_prob, scale=scale).T.contiguous()
    if cap <= 0 or cap >= scores.shape[1]:
        rows = torch.arange(scores.shape[1], device=scores.device)[None, :].expand_as(scores)
        return scores, rows
    return torch.topk(scores, cap, dim=1, sorted=False)


def pairs(values: torch.Tensor, rows: torch.Tensor):
    """Flat (rows, tag indices, confidence) of the finite entries of a dense [T, k] top."""
    tag, at = torch.nonzero(torch.isfinite(values), as_tuple=True)
    return rows[tag, at], tag, values[tag, at]


def select_block(block: np.ndarray, tags_t: torch.Tensor, **options):
    """(rows, tag indices, confidence) of one block, at most `cap` per tag (0: no cap)."""
    return pairs(*block_top(block, tags_t, **options))


class RunningTop:
    """The best `cap` suggestions of each tag seen so far (dense [T, cap]), and each tag's floor
    (its cap-th confidence, -inf until it holds `cap`): later blocks need not consider pairs below."""

    def __init__(self, tags: int, cap: int, device="cpu"):
        self.cap = cap
        self.values = torch.full((tags, cap), -torch.inf, device=device)
        self.rows = torch.full((tags, cap), -1, dtype=torch.long, device=device)

    @property
    def floors(self) -> torch.Tensor:
        return self.values.min(dim=1).values

    def add(self, values: torch.Tensor, rows: torch.Tensor) -> None:
        merged, merged_rows = torch.cat([self.values, values.float()], 1), torch.cat([self.rows, rows], 1)
        self.values, at = torch.topk(merged, self.cap, dim=1, sorted=False)
        self.rows = torch.gather(merged_rows, 1, at)

    def result(self):
        return tuple(t.cpu().numpy() for t in pairs(self.values, self.rows))


def select(vectors: np.ndarray, tag_matrix: np.ndarray, *, mode: str, cutoffs=None, min_prob: float = 0.0,
           cap: int = 0, device="cpu", block: int = BLOCK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Suggestions of a shard as numpy arrays (rows, tag indices, confidence), at most `cap` per tag
    (the most confident; 0: all)."""
    tags_t = _tags_on(tag_matrix, device)
    cut = None if cutoffs is None else torch.as_tensor(np.asarray(cutoffs, np.float32), device=tags_t.device)
    if cap <= 0:
        found = [pairs(*block_top(vectors[s:s + block], tags_t, mode=mode, cutoffs=cut, min_prob=min_prob))
                 for s in range(0, len(vectors), block)]
        found = [(r + s, c, p) for (r, c, p), s in zip(found, range(0, len(vectors), block))]
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        return tuple(torch.cat(part).cpu().numpy() for part in zip(*found))
    top = RunningTop(tags_t.shape[1], cap, device=tags_t.device)
    for start in range(0, len(vectors), block):
        floor = top.floors if cut is None else torch.maximum(cut, top.floors)
        values, rows = block_top(vectors[start:start + block], tags_t, mode=mode, cutoffs=floor,
                                 min_prob=min_prob, cap=cap)
        top.add(values, rows + start)
    return top.result()
