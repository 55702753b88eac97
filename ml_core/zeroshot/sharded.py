"""Zero-shot tagging at any size: two passes over shards of stored vectors, on the worker's device.

    pass 1 (ranking):   per tag, count / sum / sum of squares of the cosines (shards combine by
                        addition, so the default cutoff mean + k·std needs no score matrix: Σ(x·t) =
                        t·Σx and Σ(x·t)² = tᵀ(Σ x xᵀ)t, one [D, D] Gram product per block instead of
                        the [B, T] scores when T > D), and the `cap` largest confidences of each tag
                        and which rows they
                        belong to (`TopPairs`, merged across steps and workers): after it, the
                        suggestions to keep are known before anything is written;
    pass 2 (writing):   the pairs held at or above their tag's cutoff are written, shard by shard,
                        with no second product: at most `cap` per tag, however many steps ran.
                        Uncapped, pass 2 is a selection instead (`select`): per block, one [B, T]
                        product, every (photo, tag) at or above the tag's cutoff (multi), or the
                        best tag when its probability reaches min_prob (exclusive).

Only one block of rows × tags scores exists at a time (`block` rows), so memory is bounded by the
block and the cap, whatever the collection's size; the products run in torch on `device` (CUDA
with fp16 autocast when there, else CPU float32), reading float16 storage without float64 copies.
"""
from __future__ import annotations

import warnings
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
        float32 on the CPU (one pass over its pages), float16 kept for CUDA. A tensor this returned
        passes through, so a block read for the statistics and the scores is converted once."""
        if isinstance(block, torch.Tensor):
            return block
        arr = np.asarray(block)
        if self.device.type == "cuda":
            return torch.from_numpy(np.array(arr)).to(self.device)
        out = torch.from_numpy(self._buffer("rows", arr.shape, np.float32))
        with warnings.catch_warnings():  # a memory-mapped block is read-only; it is only read here
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            out.copy_(torch.from_numpy(np.ascontiguousarray(arr)))  # torch's threads: ~7× numpy's copyto
        return out

    def cosines_t(self, x: torch.Tensor) -> torch.Tensor:
        """[T, B] float32 cosines of rows `x`, tag-major."""
        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                return (self.tags @ x.T).float()
        out = torch.from_numpy(self._buffer("scores", (len(self.tags), len(x)), np.float32))
        return torch.mm(self.tags, x.T, out=out)

    def candidates(self, block, *, mode: str, floor: np.ndarray, min_prob: float = 0.0,
                   scale: float = CLIP_LOGIT_SCALE, exclude: tuple[np.ndarray, np.ndarray] | None = None,
                   seed_cap: int = 0) -> Pairs:
        """One block's suggestions as flat numpy arrays: multi, every pair whose cosine reaches its
        tag's `floor` [T]; exclusive, each row's best tag when its probability reaches min_prob and
        the tag's floor. `exclude` (rows, tag indices) are pairs never offered (a person decided
        them). With `seed_cap` (multi), a tag without a floor yet offers only the block's `seed_cap`
        best: nothing below them can be among the tag's `seed_cap` best overall, and the first
        block offers tags × seed_cap pairs instead of all of its B × T. The comparison and its
        indices run in numpy on the CPU (one thread, steady on a busy machine), in torch on CUDA."""
        cos = self.cosines_t(self.rows(block))
        if mode == "exclusive":
            conf, best = torch.softmax(cos.mul_(scale), dim=0).max(dim=0)
            conf, best = _numpy(conf), _numpy(best)
            keep = (conf >= min_prob) & (conf >= floor[best])
            if exclude is not None and len(exclude[0]):
                keep[exclude[0][best[exclude[0]] == exclude[1]]] = False
            rows = np.flatnonzero(keep)
            return rows, best[rows], conf[rows]
        if exclude is not None and len(exclude[0]):
            cos[torch.as_tensor(exclude[1], device=cos.device), torch.as_tensor(exclude[0], device=cos.device)] = -np.inf
        floor = np.asarray(floor, np.float32)
        unseeded = np.flatnonzero(~np.isfinite(floor))
        if seed_cap > 0 and len(unseeded) and cos.shape[1] > seed_cap:
            at = torch.as_tensor(unseeded, device=cos.device)
            kth = torch.topk(cos[at], seed_cap, dim=1, sorted=False).values.min(dim=1).values
            floor = floor.copy()
            floor[unseeded] = _numpy(kth)
        if cos.device.type == "cuda":
            tag, row = torch.nonzero(cos >= torch.as_tensor(floor, device=cos.device)[:, None], as_tuple=True)
            return _numpy(row), _numpy(tag), _numpy(cos[tag, row])
        scores = cos.numpy()
        mask = self._buffer("mask", scores.shape, bool)
        torch.ge(cos, torch.from_numpy(floor)[:, None], out=torch.from_numpy(mask))  # torch's threads: 3× numpy's one
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


def best_per_tag(rows: np.ndarray, tags: np.ndarray, values: np.ndarray, n_tags: int, cap: int):
    """The `cap` best pairs of each tag, by confidence, then the smaller row (a total order: ties
    cannot grow a tag past its cap): (rows, tags, values, rank within the tag), grouped by tag,
    most confident first."""
    order = np.lexsort((rows, -values, tags))
    rows, tags, values = rows[order], tags[order], values[order]
    counts = np.bincount(tags, minlength=n_tags)
    rank = np.arange(len(tags)) - (np.cumsum(counts) - counts)[tags]
    keep = rank < cap
    return rows[keep], tags[keep], values[keep], rank[keep]


class TopPairs:
    """The `cap` best (row, confidence) pairs of each tag offered so far: [T, cap] confidences
    (-inf where a tag has fewer) and [T, cap] row ids (-1 there), each tag's row in order. The
    order is total: by confidence, then the smaller row id first, so ties (an exclusive vocabulary's
    probabilities saturate at 1.0) still leave exactly `cap`, and steps and workers may merge theirs
    in any order with the same result. After one pass over a collection it holds exactly the
    suggestions to write, without a score matrix. 1,000 tags × cap 1,000 hold 12 MB."""

    def __init__(self, values: np.ndarray, rows: np.ndarray):
        self.values = np.ascontiguousarray(values, np.float32)
        self.rows = np.ascontiguousarray(rows, np.int64)

    @classmethod
    def empty(cls, tags: int, cap: int) -> "TopPairs":
        return cls(np.full((tags, cap), -np.inf, np.float32), np.full((tags, cap), -1, np.int64))

    @property
    def cap(self) -> int:
        return self.values.shape[1]

    @property
    def thresholds(self) -> np.ndarray:
        """Each tag's cap-th confidence (-inf while it holds fewer than `cap`): no pair below can enter."""
        return self.values[:, -1].copy() if self.cap else np.full(len(self.values), -np.inf, np.float32)

    def pairs(self) -> Pairs:
        """(rows, tag indices, confidences) held, flat."""
        tag, slot = np.nonzero(self.rows >= 0)
        return self.rows[tag, slot], tag, self.values[tag, slot]

    def merged(self, rows: np.ndarray, tags: np.ndarray, values: np.ndarray) -> "TopPairs":
        """These and the flat offers (row ids, tag indices, confidences): the best `cap` of each tag."""
        if not len(values) or not self.cap:
            return self
        held_rows, held_tags, held_values = self.pairs()
        rows = np.concatenate([held_rows, np.asarray(rows, np.int64)])
        tags = np.concatenate([held_tags, np.asarray(tags, np.int64)])
        values = np.concatenate([held_values, np.asarray(values, np.float32)])
        rows, tags, values, rank = best_per_tag(rows, tags, values, len(self.values), self.cap)
        out = TopPairs.empty(*self.values.shape)
        out.values[tags, rank] = values
        out.rows[tags, rank] = rows
        return out

    def to_bytes(self) -> bytes:
        return self.values.tobytes() + self.rows.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, tags: int, cap: int) -> "TopPairs":
        split = tags * cap * 4
        return cls(np.frombuffer(data[:split], np.float32).reshape(tags, cap),
                   np.frombuffer(data[split:], np.int64).reshape(tags, cap))


class RunningTop:
    """The best `cap` suggestions of each tag offered so far (0: all of them), as flat numpy arrays,
    and each tag's floor: a confidence at or below its cap-th once it holds `cap` (-inf before),
    below which no later pair can be kept, so later blocks offer only pairs at or above it.

    Offers wait in a buffer; when it passes tags × cap pairs they merge without sorting: one
    histogram per tag (up to BINS bins over the values' range) finds the bin where the count from the top
    reaches `cap`, its lower edge becomes the floor, and what lies below goes. Memory stays within
    about twice tags × cap pairs plus one block's offers. `result()` trims exactly to the `cap` most
    confident per tag (ties go to the smaller row)."""

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
        """Exactly the `cap` best per tag (by confidence, then the smaller row: ties cannot grow a
        tag past its cap); floors become the cap-th confidence."""
        counts = np.bincount(self.tag, minlength=self.tags)
        if self.cap <= 0 or counts.max(initial=0) <= self.cap:
            return
        self.rows, self.tag, self.values, rank = best_per_tag(self.rows, self.tag, self.values, self.tags, self.cap)
        last = rank == self.cap - 1  # each full tag's cap-th
        self.floors[self.tag[last]] = np.maximum(self.floors[self.tag[last]], self.values[last])

    def held(self) -> Pairs:
        """(rows, tag indices, confidences) held, not yet trimmed to the cap: every pair that can be
        among each tag's `cap` best. Cheaper than `result()` where a `TopPairs` merge sorts anyway."""
        self._merge()
        return self.rows, self.tag, self.values

    def __len__(self) -> int:
        return len(self.result()[2])

    def result(self) -> Pairs:
        """(rows, tag indices, confidences) kept: at most `cap` per tag."""
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


def rank(vectors: np.ndarray, tag_matrix: np.ndarray, *, mode: str, cap: int, min_prob: float = 0.0,
         device="cpu", block: int = BLOCK, top: "TopPairs | None" = None, first_row: int = 0) -> TopPairs:
    """The first pass over a shard: `top` (or nothing yet) with the `cap` best pairs of each tag
    among `vectors` (row ids from `first_row`) merged in. A block's offers go through a `RunningTop` whose floors start
    at the thresholds already known, so only pairs that can still count are kept."""
    scorer = Scorer(tag_matrix, device)
    top = top or TopPairs.empty(len(scorer.matrix), cap)
    offers = RunningTop(len(scorer.matrix), cap, floors=top.thresholds)
    for start in range(0, len(vectors), block):
        rows, tag, values = scorer.candidates(vectors[start:start + block], mode=mode, floor=offers.floors,
                                              min_prob=min_prob, seed_cap=cap)
        offers.add(rows + first_row + start, tag, values)
    return top.merged(*offers.held())
