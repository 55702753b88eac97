"""Train and evaluate the oracle on clean renders (a few CPU minutes).

Training scenes come from world `seed` with split "all" (the oracle is a judge, so it must know
the held-out colour+shape pairs too); evaluation uses a different world (seed + 1000), so every
reported accuracy is on scenes never seen in training. A quarter of training images are rendered
at another resolution and resized to the input size, so the oracle reads resized images too.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset
from tqdm import tqdm

from .oracle import HEADS, Oracle, OracleConfig, OracleNet, accuracy, prepare, save, scene_targets
from .render import render, render_batch
from .sampling import scene_at

EVAL_OFFSET = 1000  # evaluation world = training seed + EVAL_OFFSET
OTHER_SIZES = (32, 48, 96, 128, 224)


class OracleBatches(IterableDataset):
    """Yields (uint8 (B, 3, S, S), long targets (B, n_heads)) for steps 0..steps-1 (one worker)."""

    def __init__(self, seed: int, steps: int, batch_size: int, size: int, resized: float = 0.25):
        self.seed, self.steps, self.bs, self.size, self.resized = seed, steps, batch_size, size, resized

    def _image(self, scene, rng) -> torch.Tensor:
        if rng.random() >= self.resized:
            return torch.from_numpy(render(scene, self.size)).permute(2, 0, 1)
        other = OTHER_SIZES[int(rng.integers(len(OTHER_SIZES)))]
        x = prepare(render(scene, other), self.size)[0]
        return (x * 255).round().clamp(0, 255).to(torch.uint8)

    def __iter__(self):
        for step in range(self.steps):
            rng = np.random.default_rng([self.seed, step, 7])
            scenes = [scene_at(self.seed, step * self.bs + i, "all") for i in range(self.bs)]
            images = torch.stack([self._image(s, rng) for s in scenes])
            yield images, torch.tensor([scene_targets(s) for s in scenes])


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # the render worker must not compete with training for cores


def loss_fn(logits: dict[str, torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """Sum over heads of cross-entropy, ignoring heads that do not apply (-100)."""
    return sum(F.cross_entropy(logits[h], targets[:, j], ignore_index=-100)
               for j, h in enumerate(HEADS))


def train(seed: int = 0, steps: int = 1600, batch_size: int = 128, lr: float = 3e-3,
          cfg: OracleConfig = OracleConfig(), threads: int = 2, progress: bool = True) -> OracleNet:
    """Seeded training run; returns the trained net (eval mode)."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    net = OracleNet(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loader = DataLoader(OracleBatches(seed, steps, batch_size, cfg.size), batch_size=None,
                        num_workers=1, prefetch_factor=4, worker_init_fn=_one_thread)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(loader, total=steps, desc="oracle", disable=not progress)
    net.train()
    for images, targets in bar:
        x = images.float() / 255
        sigma = torch.rand(len(x), 1, 1, 1, generator=gen) * 0.04  # mild pixel noise
        x = (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1)
        loss = loss_fn(net(x), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return net.eval()


def evaluate(oracle: Oracle, seed: int, n: int = 2000, split: str = "all", kind: str | None = None,
             size: int | None = None) -> dict[str, float]:
    """Per-head accuracy on n fresh scenes of world seed (+ 'all': every head right)."""
    scenes = [scene_at(seed, i, split, kind) for i in range(n)]
    images = render_batch(scenes, size or oracle.cfg.size)
    return accuracy(oracle.check(images, scenes))


def train_and_save(out: str, seed: int = 0, steps: int = 1600, batch_size: int = 128,
                   eval_n: int = 2000, progress: bool = True) -> dict:
    """The `train-oracle` command: train, save, evaluate the saved (half-precision) weights."""
    cfg = OracleConfig()
    t0 = time.time()
    net = train(seed, steps, batch_size, cfg=cfg, progress=progress)
    minutes = (time.time() - t0) / 60
    extra = {"train": {"seed": seed, "steps": steps, "batch_size": batch_size, "minutes": round(minutes, 2)}}
    save(net, cfg, out, extra)
    oracle = Oracle.load(out)
    es = seed + EVAL_OFFSET
    extra["eval"] = {
        "world_seed": es,
        "single_all": evaluate(oracle, es, eval_n, "all", "single"),
        "pair_all": evaluate(oracle, es, eval_n, "all", "pair"),
        "single_heldout_pairs": evaluate(oracle, es, eval_n // 2, "heldout", "single"),
        "pair_heldout_pairs": evaluate(oracle, es, eval_n // 2, "heldout", "pair"),
        "mixed_256px_resized": evaluate(oracle, es, eval_n // 4, "all", None, size=256),
        "mixed_32px_resized": evaluate(oracle, es, eval_n // 4, "all", None, size=32),
    }
    save(net, cfg, out, extra)
    return extra
