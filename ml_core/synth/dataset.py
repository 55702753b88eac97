"""Torch datasets over the synthetic world: (scene, image, caption) items.

Item i is a pure function of (seed, i, split), so a map-style dataset of any length costs no
memory and DataLoader workers need no coordination; the iterable stream shards indices by worker
(worker w of W takes i = start + w, w + W, ...). Use `collate` as the DataLoader's collate_fn:
images stack into a uint8 (B, 3, H, W) tensor; captions and scenes stay lists.
"""
from __future__ import annotations

from itertools import count as _count
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .captions import canonical_caption, sample_caption
from .render import render, render_batch
from .sampling import scene_at, scene_rng
from .scene import Scene


def make_item(seed: int, index: int, split: str = "train", size: int = 64, kind: str | None = None,
              caption: str = "random", epoch: int = 0) -> dict:
    """{'image': uint8 (3, H, W), 'caption': str, 'scene': Scene, 'index': int}.
    caption='random' draws a phrasing per (index, epoch); 'canonical' uses the fixed one."""
    scene = scene_at(seed, index, split, kind)
    text = (canonical_caption(scene) if caption == "canonical"
            else sample_caption(scene, scene_rng(seed, index, split, stream=1 + epoch)))
    image = torch.from_numpy(render(scene, size)).permute(2, 0, 1).contiguous()
    return {"image": image, "caption": text, "scene": scene, "index": index}


def collate(items: list[dict]) -> dict:
    """Batch items from make_item: image (B, 3, H, W) uint8, lists for the rest."""
    return {"image": torch.stack([it["image"] for it in items]),
            "caption": [it["caption"] for it in items],
            "scene": [it["scene"] for it in items],
            "index": torch.tensor([it["index"] for it in items])}


class SynthDataset(Dataset):
    """Map-style: `n` items, indices 0..n-1 of world `seed` (set `epoch` to vary captions)."""

    def __init__(self, n: int, seed: int = 0, split: str = "train", size: int = 64,
                 kind: str | None = None, caption: str = "random"):
        self.n, self.seed, self.split, self.size, self.kind, self.caption = n, seed, split, size, kind, caption
        self.epoch = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return make_item(self.seed, i, self.split, self.size, self.kind, self.caption, self.epoch)

    def scene(self, i: int) -> Scene:
        return scene_at(self.seed, i, self.split, self.kind)


class SynthStream(IterableDataset):
    """Iterable: indices start, start+1, ... (endless when n is None), sharded across workers."""

    def __init__(self, seed: int = 0, split: str = "train", size: int = 64, kind: str | None = None,
                 start: int = 0, n: int | None = None, caption: str = "random"):
        self.seed, self.split, self.size, self.kind = seed, split, size, kind
        self.start, self.n, self.caption = start, n, caption

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        stop = None if self.n is None else self.start + self.n
        for i in _count(self.start + wid, nw):
            if stop is not None and i >= stop:
                return
            yield make_item(self.seed, i, self.split, self.size, self.kind, self.caption)


def batches(seed: int = 0, batch_size: int = 256, size: int = 64, split: str = "train",
            kind: str | None = None, start: int = 0, n_batches: int | None = None
            ) -> Iterator[tuple[np.ndarray, list[str], list[Scene]]]:
    """Fast single-process path without DataLoader: (uint8 (B, H, W, 3), captions, scenes)."""
    for b in _count():
        if n_batches is not None and b >= n_batches:
            return
        idx = range(start + b * batch_size, start + (b + 1) * batch_size)
        scenes = [scene_at(seed, i, split, kind) for i in idx]
        caps = [sample_caption(s, scene_rng(seed, i, split, 1)) for s, i in zip(scenes, idx)]
        yield render_batch(scenes, size), caps, scenes
