"""Zero-shot tagging at any size: two passes over shards of stored vectors, on the worker's device.

    pass 1 (statistics): per tag, count / sum / sum of squares of the cosines, per shard; shards
                         combine by addition, so the default cutoff mean + k·std needs no score matrix.
                         The sums are cheap reductions: Σ(x·t) = t·Σx and Σ(x·t)² = tᵀ(Σ x xᵀ)t, so a
                         block costs one [D, D] Gram product instead of the [B, T] scores when T > D;
    pass 2 (selection):  per block, one [B, T] product, then every (photo, tag) at or above the tag's
                         cutoff (multi), or the best tag when its probability reaches min_prob
                         (exclusive), kept in a `RunningTop` of at most `cap` per tag, the most
                         confident: no Python loop per tag or per photo.

Only one block of rows × tags scores exists at a time (`block` rows), so memory is bounded by the
block and the cap, whatever the collection's size; the products run in torch on `device` (CUDA
with fp16 autocast when there, else CPU float32), reading float16 storage without float64 copies.
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


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.cpu().numpy()


Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # flat (rows, tag indices, confidences)


class Scorer:
    """A vocabulary's tag vectors on the worker's device, and what scoring one block of stored rows
    reuses: on the CPU, the block as float32 and its [T, B] scores and mask live in buffers made
    once (fresh 32 MB arrays per block would cost page faults and zeroing every time); on CUDA the
    float16 rows go to the GPU and the product runs under fp16 autocast."""

    def __init__(self, tag_matrix: np.ndarray, device="cpu"):
        self.matrix = np.ascontiguousarray(tag_matrix, dtype=np.float32)
        self.tags = torch.as_tensor(self.matrix, device=device)  # [T, D]
        self.device = self.tags.device
        self._buffers: dict[str, np.ndarray] = {}

    def _buffer(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        size = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.size < size:
            buf = self._buffers[name] = np.empty(size, dtype)
        return buf[:size].reshape(shape)

    def rows(self, block) -> torch.Tensor:
        """A block of stored vectors ([B, D] float16 or float32, memory-mapped or not) on the device:
        float32 on the CPU (one pass over its pages), float16 kept for CUDA."""
        arr = np.asarray(block)
        if self.device.type == "cuda":
            return torch.from_numpy(np.array(arr)).to(self.device)
        out = self._buffer("rows", arr.shape, np.float32)
        np.copyto(out, arr)
        return torch.from_numpy(out)

    def cosines_t(self, x: torch.Tensor) -> torch.Tensor:
        """[T, B] float32 cosines of rows `x`, tag-major."""
        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                return (self.tags @ x.T).float()
        out = torch.from_numpy(self._buffer("scores", (len(self.tags), len(x)), np.float32))
        return torch.mm(self.tags, x.T, out=out)

    def candidates(self, block, *, mode: str, floor: np.ndarray, min_prob: float = 0.0,
                   scale: float = CLIP_LOGIT_SCALE) -> Pairs:
        """One block's suggestions as flat numpy arrays: multi, every pair whose cosine reaches its
        tag's `floor` [T]; exclusive, each row's best tag when its probability reaches min_prob and
        the tag's floor. The comparison and its indices run in numpy on the CPU (one thread, steady
        on a busy machine), in torch on CUDA."""
        cos = self.cosines_t(self.rows(block))
        if mode == "exclusive":
            conf, best = torch.softmax(cos.mul_(scale), dim=0).max(dim=0)
            conf, best = _numpy(conf), _numpy(best)
            rows = np.flatnonzero((conf >= min_prob) & (conf >= floor[best]))
            return rows, best[rows], conf[rows]
        if cos.device.type == "cuda":
            tag, row = torch.nonzero(cos >= torch.as_tensor(floor, device=cos.device)[:, None], as_tuple=True)
            return _numpy(row), _numpy(tag), _numpy(cos[tag, row])
        scores = cos.numpy()
        mask = self._buffer("mask", scores.shape, bool)
        np.greater_equal(scores, floor[:, None], out=mask)
        flat = np.flatnonzero(mask)
        tag, row = np.divmod(flat, scores.shape[1])
        return row, tag, scores.ravel()[flat]


class StatsAccumulator:
    """Sums over blocks of rows from which each tag's TagStats follow. With more tags than dimensions
    they are Σx and the Gram matrix Σ x xᵀ (exact, and D/T of the work of the scores), since
    Σ(x·t) = t·Σx and Σ(x·t)² = tᵀ(Σ x xᵀ)t; else each tag's Σ(x·t)² directly. Products in float32 on
    `device`, sums across blocks in float64; reductions in numpy on the CPU (steadier than torch's
    threads on a busy machine). `stats()` costs one [T, D] @ [D, D] product: call it per step."""

    def __init__(self, tag_matrix: np.ndarray, device="cpu"):
        self.scorer = Scorer(tag_matrix, device)
        self.matrix, self.tags = self.scorer.matrix, self.scorer.tags
        t, d = self.tags.shape
        self.gram_path = t > d
        self.rows, self.total, self.second = 0, np.zeros(d), np.zeros((d, d) if self.gram_path else t)

    def add(self, block) -> None:
        x = self.scorer.rows(block).float()
        self.rows += len(x)
        self.total += _numpy(x.sum(0)) if x.is_cuda else x.numpy().sum(0)
        if self.gram_path:
            self.second += _numpy(x.T @ x)
        else:
            cos = _numpy(self.tags @ x.T)
            self.second += np.einsum("tb,tb->t", cos, cos)

    def stats(self) -> TagStats:
        tags64 = self.matrix.astype(np.float64)
        squares = np.einsum("td,td->t", tags64 @ self.second, tags64) if self.gram_path else self.second.copy()
        return TagStats(np.full(len(tags64), float(self.rows)), tags64 @ self.total, squares)


def tag_stats(vectors: np.ndarray, tag_matrix: np.ndarray, *, device="cpu", block: int = BLOCK) -> TagStats:
    """Statistics of every tag's cosines over `vectors` [N, D] (a shard), block by block."""
    sums = StatsAccumulator(tag_matrix, device)
    for start in range(0, len(vectors), block):
        sums.add(vectors[start:start + block])
    return sums.stats()


class RunningTop:
    """The best `cap` suggestions of each tag offered so far (0: all of them), as flat numpy arrays,
    and each tag's floor: a confidence at or below its cap-th once it holds `cap` (-inf before),
    below which no later pair can be kept, so later blocks offer only pairs at or above it.

    Offers wait in a buffer; when it passes tags × cap pairs they merge without sorting: one
    histogram per tag (up to BINS bins over the values' range) finds the bin where the count from the top
    reaches `cap`, its lower edge becomes the floor, and what lies below goes. Memory stays within
    about twice tags × cap pairs plus one block's offers. `result()` trims exactly to the `cap` most
    confident per tag (ties with the cap-th stay)."""

    BINS = 2048  # at most, per tag

    def __init__(self, tags: int, cap: int, floors: np.ndarray | None = None):
        self.tags, self.cap = tags, cap
        self.floors = np.full(tags, -np.inf, np.float32) if floors is None else np.asarray(floors, np.float32).copy()
        self.rows, self.tag, self.values = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        self._pending: list[Pairs] = []
        self._pending_count = 0

    def add(self, rows: np.ndarray, tags: np.ndarray, values: np.ndarray) -> None:
        if not len(values):
            return
        self._pending.append((np.asarray(rows, np.int64), np.asarray(tags, np.int64), np.asarray(values, np.float32)))
        self._pending_count += len(values)
        if self.cap > 0 and self._pending_count >= self.tags * self.cap:
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        rows, tag, values = (np.concatenate(p) for p in zip((self.rows, self.tag, self.values), *self._pending))
        self._pending, self._pending_count = [], 0
        if self.cap > 0 and len(values) > self.cap:
            self._raise_floors(tag, values)
            keep = values >= self.floors[tag]
            rows, tag, values = rows[keep], tag[keep], values[keep]
        self.rows, self.tag, self.values = rows, tag, values

    def _raise_floors(self, tag: np.ndarray, values: np.ndarray) -> None:
        bins = int(np.clip(len(values) // self.tags, 64, self.BINS))  # the histograms: about as large as the pairs
        lo, hi = float(values.min()), float(values.max())
        width = (hi - lo) / bins or 1.0
        at = np.minimum(((values - lo) / width).astype(np.int64), bins - 1)
        from_top = np.cumsum(np.bincount(tag * bins + at, minlength=self.tags * bins).reshape(self.tags, bins)[:, ::-1], axis=1)
        reached = from_top[:, -1] >= self.cap
        edge = lo + (bins - 1 - (from_top >= self.cap).argmax(axis=1)) * width - width * 1e-3  # a bin's lower edge, just under
        self.floors = np.where(reached, np.maximum(self.floors, edge), self.floors).astype(np.float32)

    def _trim(self) -> None:
        """Exactly the `cap` most confident per tag (and ties with the cap-th); floors become the cap-th."""
        counts = np.bincount(self.tag, minlength=self.tags)
        if self.cap <= 0 or counts.max(initial=0) <= self.cap:
            return
        order = np.argsort(-self.values, kind="stable")  # most confident first, then grouped by tag
        order = order[np.argsort(self.tag[order].astype(np.int16 if self.tags < 2**15 else np.int64), kind="stable")]
        rows, tag, values = self.rows[order], self.tag[order], self.values[order]
        starts = np.cumsum(counts) - counts
        full = np.flatnonzero(counts >= self.cap)
        self.floors[full] = np.maximum(self.floors[full], values[starts[full] + self.cap - 1])
        keep = values >= self.floors[tag]
        self.rows, self.tag, self.values = rows[keep], tag[keep], values[keep]

    def __len__(self) -> int:
        return len(self.result()[2])

    def result(self) -> Pairs:
        """(rows, tag indices, confidences) kept: at most `cap` per tag, but for ties."""
        self._merge()
        self._trim()
        return self.rows, self.tag, self.values


def select(vectors: np.ndarray, tag_matrix: np.ndarray, *, mode: str, cutoffs=None, min_prob: float = 0.0,
           cap: int = 0, device="cpu", block: int = BLOCK, floors=None) -> Pairs:
    """Suggestions of a shard as numpy arrays (rows, tag indices, confidence): pairs at or above
    `cutoffs` (and `floors`: confidences the caller already keeps `cap` of), at most `cap` per tag
    (the most confident; 0: all)."""
    scorer = Scorer(tag_matrix, device)
    top = RunningTop(len(scorer.matrix), cap, floors=floors)
    cut = np.full(len(scorer.matrix), -np.inf, np.float32) if cutoffs is None else np.asarray(cutoffs, np.float32)
    for start in range(0, len(vectors), block):
        rows, tag, values = scorer.candidates(vectors[start:start + block], mode=mode,
                                              floor=np.maximum(cut, top.floors), min_prob=min_prob)
        top.add(rows + start, tag, values)
    return top.result()
