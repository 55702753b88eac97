"""Training on the synthetic world: image tokenizer, then BPE, then the transformer.

Each stage runs on the one trainer of ml_core (``ml_core.train.trainer``): on the configured device
(CUDA when present), with linear warm-up and cosine decay to 10 % of the peak learning rate, a
progress bar, and a checkpoint folder per stage in the work directory (``tokenizer/``,
``transformer/``, ``decoder/``) written every ``ckpt_every`` steps and at the end, from which
``resume`` continues. Batches are pure functions of (seed, step) (``training_data``). The
transformer stage also has a wall-clock budget (``tf_minutes``): its schedule follows whichever of
steps and time is further along. `run(out, config, seed, work, resume)` does all stages and writes
the final (fp16) weights to `out`.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..train.trainer import Trainer, TrainerConfig, pick_device, read_checkpoint
from .model import DalleConfig, DalleTransformer
from .text import TextTokenizer
from .training_data import (TokenizerBatches, TransformerBatches, fit_text_tokenizer, object_token_masks,
                            scene_cache, tokenize_scenes)
from .vqvae import VQConfig, VQVAE, psnr

@dataclass
class TrainConfig:
    """One named recipe: model configs and step counts for both stages."""
    name: str
    vq: VQConfig
    dalle: DalleConfig
    vq_steps: int = 2000
    vq_batch: int = 32
    vq_lr: float = 2e-3
    fg_weight: float = 8.0        # extra loss weight on object pixels (the oracle reads objects)
    bpe_vocab: int = 512
    bpe_scenes: int = 4000
    tf_scenes: int = 30000        # scenes tokenized once for the transformer
    tf_steps: int = 6000          # upper bound; the schedule also ends when tf_minutes are spent
    tf_minutes: float = 25.0      # wall-clock budget of the transformer stage (shared CPUs vary 5x)
    tf_batch: int = 48
    tf_lr: float = 1e-3
    warmup: int = 100
    caption_dropout: float = 0.15  # share of empty captions (for classifier-free guidance)
    tf_object_weight: float = 0.0  # extra loss weight on image tokens at/next to an object
    ckpt_every: int = 100
    extra: dict = field(default_factory=dict)


CONFIGS = {
    "small": TrainConfig("small", VQConfig(downsample=2, channels=32, res_blocks=1, max_mult=2,
                                           bottom_blocks=2, loss="l1grad"),
                         DalleConfig(n_layer=4, n_head=4, n_embd=128), tf_batch=32, tf_lr=2e-3),
    # 64 px images as 8x8 tokens of 8x8 px: shapes become one to four tokens and the stream is 88
    # long instead of 280; 64 px because at 32 px the oracle loses shape under any blur (a 3x3 box
    # blur: 0.73 shape accuracy at 32 px, 1.00 at 64 px; docs/ml/dalle.md).
    "grid8": TrainConfig("grid8", VQConfig(image_size=64, downsample=8, channels=16, res_blocks=1,
                                           max_mult=8, bottom_blocks=2, codebook_size=1024,
                                           loss="l1grad"),
                         DalleConfig(n_layer=6, n_head=4, n_embd=128), vq_steps=3000, tf_batch=64,
                         tf_lr=1.5e-3, tf_minutes=30.0),
    # 64 px images as 16x16 tokens of 4x4 px: the same stream as "small", drawn at the oracle's
    # own resolution (docs/ml/dalle.md: blur the oracle survives at 64 px kills shape at 32 px).
    "small64": TrainConfig("small64", VQConfig(image_size=64, downsample=4, channels=16, res_blocks=1,
                                               max_mult=4, bottom_blocks=2, codebook_size=1024,
                                               loss="l1grad"),
                           DalleConfig(n_layer=4, n_head=4, n_embd=128), vq_steps=3000, tf_batch=32,
                           tf_lr=2e-3, tf_minutes=45.0),
    # 32 px images as 8x8 tokens of 4x4 px: an object is 2-3 tokens wide, so each token holds a
    # large part of its shape, and the stream is 88 long (3.2x cheaper per sample than 280).
    "grid8_32": TrainConfig("grid8_32", VQConfig(image_size=32, downsample=4, channels=64, res_blocks=1,
                                                 max_mult=2, bottom_blocks=2, codebook_size=1024,
                                                 loss="l1grad"),
                            DalleConfig(n_layer=6, n_head=4, n_embd=160), vq_steps=2500, tf_batch=64,
                            tf_lr=1.5e-3, tf_minutes=45.0),
    "tiny": TrainConfig("tiny", VQConfig(channels=16, res_blocks=1, codebook_size=64, code_dim=16),
                        DalleConfig(image_vocab=64, n_layer=2, n_head=2, n_embd=64),
                        vq_steps=30, vq_batch=16, bpe_scenes=300, tf_scenes=512, tf_steps=40,
                        tf_batch=32, tf_lr=3e-3, warmup=5, ckpt_every=20, tf_minutes=5.0),
}


# The sampling settings written into the weights (Dalle.sampling): the 16 likeliest tokens and
# guidance 2, which beat 1.5, 2.5 and 3 at N = 1 on the VALIDATION world for the shipped weights
# (docs/ml/dalle.md, "Sampling settings"; history in CHANGELOG.md).
SAMPLING = {"cond_scale": 2.0, "top_k": 16}


TOKENIZER_DIR, DECODER_DIR, TRANSFORMER_DIR = "tokenizer", "decoder", "transformer"
# the one-file checkpoints of work directories written before the stages ran on the trainer
OLD_CHECKPOINTS = ("vq_ckpt.pt", "vq_decoder_ckpt.pt", "tf_ckpt.pt")


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def stage_config(tc: TrainConfig, how: TrainerConfig | None, name: str, steps: int, lr: float,
                 **optimiser) -> TrainerConfig:
    """The trainer's settings for one stage: the recipe's warm-up, cosine to 10 % of ``lr``,
    checkpoints every ``tc.ckpt_every`` steps, Adam without weight decay or clipping unless
    ``optimiser`` says otherwise; ``how`` says where it runs (device, threads, batch workers, bar)."""
    how = how or TrainerConfig(threads=torch.get_num_threads(), num_workers=0)
    plain_adam = {"weight_decay": 0.0, "grad_clip": 0.0, "betas": (0.9, 0.999)}
    return dataclasses.replace(how, name=name, steps=steps, lr=lr, warmup=tc.warmup, min_lr_ratio=0.1,
                               checkpoint_every=tc.ckpt_every, **{**plain_adam, **optimiser})


def _to_device(model: torch.nn.Module, batch) -> list:
    device = next(model.parameters()).device
    return [None if t is None else t.to(device, non_blocking=True) for t in batch]


# ---------------------------------------------------------------------------------------- tokenizer
def tokenizer_loss(vq: VQVAE, batch):
    """Weighted reconstruction loss + commitment; shows PSNR, codebook perplexity and dead codes."""
    x, w, target = _to_device(vq, batch)
    rec, loss, _ = vq(x, w, target)
    s = vq.stats()
    shown = psnr(rec.detach().clamp(0, 1), x if target is None else target)
    return loss, {"psnr": f"{shown:.1f}", "ppl": f"{s['perplexity']:.0f}", "dead": s["dead_codes"]}


def decoder_loss(vq: VQVAE, batch):
    # encoder and codebook as at inference (no EMA update), so every image keeps its tokens; the
    # decoder has no batch norm or dropout, so eval mode trains it as train mode would
    vq.eval()
    return tokenizer_loss(vq, batch)


def train_tokenizer(tc: TrainConfig, seed: int, work: Path, resume: bool, log=print,
                    how: TrainerConfig | None = None) -> VQVAE:
    _seed_all(seed)
    vq = VQVAE(tc.vq)
    trainer = Trainer(stage_config(tc, how, "tokenizer", tc.vq_steps, tc.vq_lr), vq,
                      TokenizerBatches(seed, tc.vq_batch, tc.vq.image_size, tc.fg_weight), tokenizer_loss,
                      checkpoint_dir=Path(work) / TOKENIZER_DIR)
    if resume:
        trainer.load_checkpoint()
    trainer.run()
    log(f"tokenizer: {tc.vq_steps} steps, codebook {vq.stats()}")
    return vq.cpu().eval()


def _decoder_shape(cfg: VQConfig) -> dict:
    """The fields of a VQConfig that shape its decoder only (the tokens do not depend on them)."""
    return {"out_scale": cfg.out_scale, "decoder_width": cfg.decoder_width, "bottom_blocks": cfg.bottom_blocks}


def finetune_decoder(tc: TrainConfig, seed: int, work: Path, steps: int, resume: bool = True,
                     log=print, scale: int = 1, width: int = 0, blocks: int = 0,
                     how: TrainerConfig | None = None) -> VQVAE:
    """Train only the tokenizer's DECODER further, on fresh scenes, with the encoder and codebook
    frozen (no EMA updates): every image keeps its tokens, so a transformer trained on them stays
    valid while its pictures get sharper. Checkpoints to `work/decoder/`, which `run` then uses.
    A decoder of another shape is trained NEW, from the same frozen tokens: `scale` 2 paints them
    at twice the tokenizer's input size (the scene rendered at that size is its target), so the
    stream stays short while the pictures reach the resolution where the oracle reads shapes;
    `width` (channels at grid resolution) and `blocks` (residual blocks there) give it more room
    to infer a shape from the codes around each token (0: as the tokenizer's)."""
    work = Path(work)
    base = read_checkpoint(work / TOKENIZER_DIR)
    if base is None:
        raise FileNotFoundError(f"{work / TOKENIZER_DIR}: train the tokenizer first (--stage tokenizer)")
    cfg = dataclasses.replace(tc.vq, out_scale=scale, decoder_width=width or tc.vq.decoder_width,
                              bottom_blocks=blocks or tc.vq.bottom_blocks)
    shape = _decoder_shape(cfg)
    _seed_all(seed)
    vq = VQVAE(cfg)
    state = base["model"]
    new_decoder = shape != _decoder_shape(tc.vq)
    if new_decoder:  # only the encoder and codebook come from the tokenizer
        state = {k: v for k, v in state.items() if not k.startswith("decoder.")}
    vq.load_state_dict(state, strict=not new_decoder)
    for part in (vq.encoder, vq.codebook):
        part.requires_grad_(False)
    folder = work / DECODER_DIR
    held = read_checkpoint(folder) if resume else None
    if held is not None and held["extra"]["decoder_shape"] != shape:
        was = held["extra"]["decoder_shape"]
        diff = ", ".join(f"{k} {was[k]}, not {shape[k]}" for k in shape if was[k] != shape[k])
        raise ValueError(f"{folder} holds a decoder with {diff}: move it away to start another")
    batches = TokenizerBatches(seed, tc.vq_batch, tc.vq.image_size, tc.fg_weight, first_step=tc.vq_steps,
                               target_size=cfg.out_size)
    trainer = Trainer(stage_config(tc, how, "decoder", steps, tc.vq_lr / 2), vq, batches, decoder_loss,
                      checkpoint_dir=folder)
    if resume:
        trainer.load_checkpoint()
    trainer.extra["decoder_shape"] = shape
    trainer.run()
    log(f"decoder fine-tuned for {steps} steps")
    return vq.cpu().eval()


def _with_finetuned_decoder(vq: VQVAE, work: Path, log=print) -> tuple[VQVAE, int]:
    """`vq` with the decoder of a finished `finetune_decoder` run in `work`, and its step count (0: none)."""
    st = read_checkpoint(work / DECODER_DIR)
    if st is None:
        return vq, 0
    if st["step"] < st["config"]["steps"]:
        log(f"{work / DECODER_DIR}: decoder fine-tuning unfinished, using the tokenizer's own decoder")
        return vq, 0
    shape = st["extra"]["decoder_shape"]
    if shape != _decoder_shape(vq.cfg):
        vq = VQVAE(dataclasses.replace(vq.cfg, **shape))
    vq.load_state_dict(st["model"])
    return vq.eval(), int(st["step"])


# ---------------------------------------------------------------------------------------- transformer
def transformer_loss(model: DalleTransformer, batch) -> torch.Tensor:
    text, image, weight = _to_device(model, batch)
    return model.loss(text, image, weight)


def train_transformer(tc: TrainConfig, tok: TextTokenizer, images: torch.Tensor, seed: int,
                      work: Path, resume: bool, log=print,
                      object_masks: torch.Tensor | None = None,
                      command: str = "", how: TrainerConfig | None = None) -> tuple[DalleTransformer, list[float], dict]:
    """`object_masks` (len(images), N) bool: tokens weighted 1 + tc.tf_object_weight in the loss.
    Returns the model, every step's loss, and the run's lineage kept in the checkpoint:
    `seconds` (the training loop's wall-clock over all continuations) and `commands` (each call
    that trained it, `command` last if this call trained at least one step)."""
    _seed_all(seed)
    model = DalleTransformer(tc.dalle)
    config = stage_config(tc, how, "transformer", tc.tf_steps, tc.tf_lr, minutes=tc.tf_minutes,
                          weight_decay=0.05, betas=(0.9, 0.95), grad_clip=1.0)
    batches = TransformerBatches(tok, images, seed, tc.tf_batch, tc.caption_dropout, object_masks,
                                 tc.tf_object_weight)
    trainer = Trainer(config, model, batches, transformer_loss, checkpoint_dir=Path(work) / TRANSFORMER_DIR)
    if resume:
        trainer.load_checkpoint()
    commands = list(trainer.extra.get("commands", []))
    # an interrupted call resumed with the same command is one entry, not two
    trained_by = commands if commands[-1:] == [command] or not command else commands + [command]
    trainer.add_callback("on_step_end", lambda t: t.extra.update(commands=trained_by))
    trainer.run()
    if trainer.out_of_time:
        log(f"transformer: time budget of {tc.tf_minutes} min reached at step {trainer.step}")
    lineage = {"seconds": trainer.elapsed, "commands": trainer.extra.get("commands", [])}
    return model.cpu().eval(), trainer.losses, lineage


# ---------------------------------------------------------------------------------------- all
def recipe(config: str, **overrides) -> TrainConfig:
    """``CONFIGS[config]`` with the given fields replaced (None: the recipe's)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(CONFIGS[config], **given)


def _refuse_old_checkpoints(work: Path) -> None:
    old = [name for name in OLD_CHECKPOINTS if (work / name).exists()]
    if old:
        raise ValueError(f"--resume: {work} holds checkpoints of an older layout ({', '.join(old)}) that "
                         "this version does not read; give another --work to start afresh")


def run(out: str | Path, config: str = "small", seed: int = 0, work: str | Path | None = None,
        resume: bool = False, threads: int = 2, log=print, stop_after: str = "all",
        tf_minutes: float | None = None, decoder_steps: int = 0,
        object_weight: float | None = None, decoder_scale: int = 1, tf_steps: int | None = None,
        decoder_width: int = 0, decoder_blocks: int = 0, tf_scenes: int | None = None,
        device: str | None = None, workers: int = 0) -> Path:
    """Train tokenizer, BPE and transformer; write fp16 weights + config.json to `out`.
    `tf_minutes` overrides the recipe's transformer budget (with `resume`, a larger budget
    continues a finished run: the cosine schedule picks up where the new budget puts it).
    `device`: default the ml_core configuration's, else CUDA when present; `workers`: processes
    building batches ahead of the training step (0: in the training process)."""
    from .pipeline import save_pipeline

    torch.set_num_threads(threads)
    how = TrainerConfig(threads=threads, num_workers=workers, device=device, seed=seed)
    tc = recipe(config, tf_minutes=tf_minutes, tf_object_weight=object_weight, tf_steps=tf_steps,
                tf_scenes=tf_scenes)
    out = Path(out)
    work = Path(work or Path("var") / "dalle" / f"{config}-seed{seed}")
    work.mkdir(parents=True, exist_ok=True)
    if resume:
        _refuse_old_checkpoints(work)
    times = {}
    if stop_after == "decoder":  # the tokenizer's checkpoint must exist; its tokens stay as they are
        finetune_decoder(tc, seed, work, decoder_steps, resume=True, log=log, scale=decoder_scale,
                         width=decoder_width, blocks=decoder_blocks, how=how)
        return work
    t0 = time.time()
    vq = train_tokenizer(tc, seed, work, resume, log, how)
    times["tokenizer_s"] = round(time.time() - t0, 1)
    if stop_after == "tokenizer":
        return work
    tok = fit_text_tokenizer(seed, tc.bpe_scenes, tc.bpe_vocab, tc.dalle.text_len)
    tc = dataclasses.replace(tc, dalle=DalleConfig(**{**tc.dalle.to_dict(), "text_vocab": tok.vocab_size,
                                                      "image_vocab": tc.vq.codebook_size, "image_grid": tc.vq.grid}))
    t1 = time.time()
    images = scene_cache(work, "tokens", tc.tf_scenes, resume, log,
                         lambda a, n: tokenize_scenes(vq, seed, n, offset=10_000_000 + a))
    masks = None
    if tc.tf_object_weight:
        masks = scene_cache(work, "object_masks", tc.tf_scenes, resume, log,
                            lambda a, n: object_token_masks(seed, n, tc.vq.image_size, tc.vq.grid,
                                                            offset=10_000_000 + a))
    command = _command(out, config, seed, threads, resume, tc, tf_minutes=tf_minutes, object_weight=object_weight,
                       tf_steps=tf_steps, tf_scenes=tf_scenes, device=device)
    model, losses, lineage = train_transformer(tc, tok, images, seed, work, resume, log, masks, command, how)
    times["transformer_s"] = round(time.time() - t1, 1)             # this call, tokenizing included
    times["transformer_train_total_s"] = round(lineage["seconds"], 1)  # the loop, all continuations
    vq, decoder_steps = _with_finetuned_decoder(vq, work, log)  # same tokens, sharper pictures
    facts = {"train_config": config, "seed": seed, "vq_steps": tc.vq_steps, "vq_batch": tc.vq_batch,
             "tf_steps": len(losses), "tf_minutes_budget": tc.tf_minutes, "tf_batch": tc.tf_batch, "tf_scenes": tc.tf_scenes,
             "caption_dropout": tc.caption_dropout, "tf_object_weight": tc.tf_object_weight, "times": times, "threads": threads,
             "device": str(pick_device(device)),
             "decoder_finetune_steps": decoder_steps, "decoder_out_scale": vq.cfg.out_scale,
             "decoder_width": vq.cfg.decoder_width, "decoder_bottom_blocks": vq.cfg.bottom_blocks,
             "final_loss": float(np.mean(losses[-50:])), "first_loss": float(np.mean(losses[:10])),
             "codebook": vq.stats(), "sampling": dict(SAMPLING),
             "command": command, "transformer_commands": lineage["commands"]}
    save_pipeline(out, vq, tok, model, facts)
    (work / "losses.json").write_text(json.dumps(losses))
    log(f"saved {out} ({json.dumps(times)})")
    return out


def _command(out: Path, config: str, seed: int, threads: int, resume: bool, tc: TrainConfig, **given) -> str:
    """The command line that trains what this call trains (the options it was given, and no others)."""
    values = {"tf_minutes": f"{tc.tf_minutes:g}", "object_weight": f"{tc.tf_object_weight:g}",
              "tf_steps": str(tc.tf_steps), "tf_scenes": str(tc.tf_scenes), "device": given.get("device")}
    return (f"python -m ml_core.train dalle --out {out} --seed {seed} --config {config} --threads {threads}"
            + (" --resume" if resume else "")
            + "".join(f" --{k.replace('_', '-')} {values[k]}" for k, v in given.items() if v is not None))
