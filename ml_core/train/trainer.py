"""A small model-agnostic trainer (minGPT-style): a loop, an optimizer, callbacks, checkpoints.

The trainer knows nothing about CLIP or DALL-E. It gets a model, ``make_batch(step)`` (a pure,
picklable function of the step number, so a resumed run sees exactly the batches it would have
seen) and ``loss_fn(model, batch)``, which returns the scalar loss, or the loss and a dict of
figures to show on the progress bar; it moves the batch to the model's device. With
``num_workers`` > 0, batches are built one step ahead in worker processes (one thread each) while
the model trains on the previous one.

The device is ``config.device``, else the ml_core configuration's, else CUDA when present, else CPU.
Checkpoints are two files in ``checkpoint_dir``: ``model.pt`` (weights, step, loss history,
training seconds, RNG state, the caller's ``extra`` facts) and ``optimizer.pt`` (AdamW moments);
``load_checkpoint()`` continues from them. The learning rate is a pure function of the step (linear
warm-up, cosine decay) and, with a time budget (``minutes``), of the training time spent: the
schedule follows whichever is further along and the run ends when either is used up.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, IterableDataset
from tqdm import tqdm

MODEL_FILE = "model.pt"
OPTIMIZER_FILE = "optimizer.pt"
NO_DECAY_WORDS = ("bias", "bn", "ln_", "norm", "embedding", "logit_scale", "class_embedding")


@dataclass
class TrainerConfig:
    steps: int = 1000
    lr: float = 1e-3
    warmup: int = 50
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0  # 0: no clipping
    checkpoint_every: int = 200
    seed: int = 0
    threads: int = 2
    num_workers: int = 1  # batch-building processes (0: build batches in the training process)
    device: str | None = None  # default: the ml_core configuration's, else CUDA when present, else CPU
    progress: bool = True
    minutes: float | None = None  # time budget of the training loop, summed over resumed runs (None: none)
    name: str = "train"  # the progress bar's label

    def lr_at(self, step: int, elapsed: float = 0.0) -> float:
        """Learning rate for optimisation step ``step`` (0-based), ``elapsed`` training seconds in."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = max((step - self.warmup) / max(1, self.steps - self.warmup), self.time_share(elapsed))
        floor = self.lr * self.min_lr_ratio
        return floor + (self.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    def time_share(self, elapsed: float) -> float:
        """The share of the time budget ``elapsed`` seconds use (0 without a budget)."""
        return elapsed / (self.minutes * 60) if self.minutes else 0.0


class _StepBatches(IterableDataset):
    def __init__(self, make_batch: Callable[[int], Any], start: int, stop: int):
        self.make_batch, self.start, self.stop = make_batch, start, stop

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.make_batch(step)


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # the batch builder must not compete with training for cores


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices and conv kernels only (not gains, biases, embeddings)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        plain = p.ndim < 2 or any(w in name for w in NO_DECAY_WORDS)
        (no_decay if plain else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def pick_device(requested: str | None) -> torch.device:
    from ml_core.clip.runtime import pick_device as configured_device  # the one device rule of ml_core

    return configured_device(requested)


class Trainer:
    """``Trainer(config, model, make_batch, loss_fn).run()``; events: ``on_step_end``,
    ``on_checkpoint``, ``on_train_end`` (callbacks get the trainer). Only parameters that require
    gradients are optimised."""

    def __init__(self, config: TrainerConfig, model: torch.nn.Module, make_batch: Callable[[int], Any],
                 loss_fn: Callable[[torch.nn.Module, Any], Any], *,
                 checkpoint_dir: str | Path | None = None):
        self.config = config
        self.device = pick_device(config.device)
        if self.device.type == "cpu":
            torch.set_num_threads(config.threads)
        self.model = model.to(self.device)
        self.make_batch, self.loss_fn = make_batch, loss_fn
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr,
                                           betas=config.betas)
        self.step = 0  # optimisation steps done
        self.losses: list[float] = []
        self.elapsed = 0.0  # training seconds, summed over resumed runs
        self.extra: dict = {}  # the caller's facts, kept in the checkpoint
        self.shown: dict = {}  # what the loss function last gave to show on the progress bar
        self.out_of_time = False  # the run ended on its time budget
        self._saved_step = None
        self.callbacks: dict[str, list[Callable]] = defaultdict(list)

    def add_callback(self, event: str, fn: Callable[["Trainer"], None]) -> None:
        self.callbacks[event].append(fn)

    def trigger(self, event: str) -> None:
        for fn in self.callbacks[event]:
            fn(self)

    # ---- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        folder = self.checkpoint_dir
        folder.mkdir(parents=True, exist_ok=True)  # survives someone clearing var/ mid-run
        state = {"model": self.model.state_dict(), "step": self.step, "losses": self.losses,
                 "elapsed": self.elapsed, "config": asdict(self.config), "extra": self.extra,
                 "rng": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        atomic_save({"optimizer": self.optimizer.state_dict(), "step": self.step}, folder / OPTIMIZER_FILE)
        atomic_save(state, folder / MODEL_FILE)
        self._saved_step = self.step
        self.trigger("on_checkpoint")

    def load_checkpoint(self) -> bool:
        """Restore model, optimizer, step, history and RNG from ``checkpoint_dir``; False if none."""
        folder = self.checkpoint_dir
        state = read_checkpoint(folder, self.device) if folder is not None else None
        if state is None:
            return False
        opt = torch.load(folder / OPTIMIZER_FILE, map_location=self.device, weights_only=False)
        if opt["step"] != state["step"]:
            raise RuntimeError(f"{folder}: model (step {state['step']}) and optimizer (step {opt['step']}) differ")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(opt["optimizer"])
        self.step, self.losses, self.elapsed = state["step"], list(state["losses"]), state["elapsed"]
        self.extra = dict(state.get("extra", {}))
        if "rng" in state:
            torch.set_rng_state(state["rng"].cpu())
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        self._saved_step = self.step
        return True

    # ---- loop -----------------------------------------------------------------------------------

    def _batches(self):
        data = _StepBatches(self.make_batch, self.step, self.config.steps)
        if self.config.num_workers == 0:
            return iter(data)
        return iter(DataLoader(data, batch_size=None, num_workers=self.config.num_workers,
                               prefetch_factor=2, worker_init_fn=_one_thread))

    def train_step(self, batch) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr_at(self.step, self.elapsed)
        self.model.train()
        loss = self.loss_fn(self.model, batch)
        if isinstance(loss, tuple):
            loss, self.shown = loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def run(self) -> "Trainer":
        cfg = self.config
        bar = tqdm(total=cfg.steps, initial=self.step, desc=cfg.name, disable=not cfg.progress,
                   dynamic_ncols=True)
        start = time.time() - self.elapsed
        for batch in self._batches():
            self.elapsed = time.time() - start
            if cfg.time_share(self.elapsed) >= 1:
                self.out_of_time = True
                break
            self.losses.append(self.train_step(batch))
            self.elapsed = time.time() - start
            bar.update(1)
            bar.set_postfix(loss=f"{self.losses[-1]:.3f}", lr=f"{cfg.lr_at(self.step - 1, self.elapsed):.1e}",
                            **self.shown)
            self.trigger("on_step_end")
            if self.checkpoint_dir and cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
        bar.close()
        if self.checkpoint_dir and self._saved_step != self.step:  # the last steps are kept too
            self.save_checkpoint()
        self.trigger("on_train_end")
        return self


def read_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> dict | None:
    """``model.pt`` of a trainer's checkpoint folder (weights, step, losses, elapsed, config,
    extra), or None when there is none."""
    file = Path(folder) / MODEL_FILE
    return torch.load(file, map_location=device, weights_only=False) if file.is_file() else None


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` that never leaves a half-written file: an interrupted save keeps the old one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
