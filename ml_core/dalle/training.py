"""Training on the synthetic world: image tokenizer, then BPE, then the transformer.

Every stage is seeded and a pure function of its step (batch s of the tokenizer is scenes
s*B..(s+1)*B of world `seed`; the transformer's captions change per epoch), checkpoints into a
work directory every `ckpt_every` steps and resumes from there, and shows a tqdm bar.
`run(out, config, seed, work, resume)` does all stages and writes the final (fp16) weights to `out`.
"""
from __future__ import annotations

import dataclasses

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..synth.captions import captions as scene_captions, sample_caption
from ..synth.render import render_background, render_batch
from ..synth.sampling import scene_at, scene_rng
from .model import DalleConfig, DalleTransformer
from .text import TextTokenizer, train_bpe
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


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def _lr(step: int, total: int, peak: float, warmup: int, progress: float | None = None) -> float:
    """Linear warmup, then cosine to 10 % of peak over `progress` (default step / total)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup) if progress is None else progress
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _save_ckpt(path: Path, **state) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # survives someone clearing var/ mid-run
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: an interrupted save never leaves a broken checkpoint


# ---------------------------------------------------------------------------------------- tokenizer
def vq_batch(seed: int, step: int, batch: int, size: int, fg_weight: float, split: str = "train"):
    """(images (B, 3, S, S) float, loss weights (B, 1, S, S)) for tokenizer step `step`."""
    scenes = [scene_at(seed, i, split) for i in range(step * batch, (step + 1) * batch)]
    img, objects = render_with_objects(scenes, size)
    return img, 1 + fg_weight * objects


def render_with_objects(scenes, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (B, 3, S, S) in [0, 1], object masks (B, 1, S, S) float): 1 where a pixel differs
    from the scene's bare background."""
    img = torch.from_numpy(render_batch(scenes, size)).permute(0, 3, 1, 2).float() / 255
    bg = torch.from_numpy(np.stack([render_background(s.background, size) for s in scenes]))
    bg = bg.permute(0, 3, 1, 2).float() / 255
    return img, ((img - bg).abs().amax(1, keepdim=True) > 0.04).float()


def train_tokenizer(tc: TrainConfig, seed: int, work: Path, resume: bool, log=print) -> VQVAE:
    ckpt = work / "vq_ckpt.pt"
    _seed_all(seed)
    vq = VQVAE(tc.vq)
    opt = torch.optim.Adam(vq.parameters(), lr=tc.vq_lr)
    step = 0
    if resume and ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        vq.load_state_dict(st["model"]), opt.load_state_dict(st["opt"])
        step = st["step"]
        torch.set_rng_state(st["rng"])
    vq.train()
    bar = tqdm(range(step, tc.vq_steps), desc="tokenizer", initial=step, total=tc.vq_steps)
    for step in bar:
        x, w = vq_batch(seed, step, tc.vq_batch, tc.vq.image_size, tc.fg_weight)
        for g in opt.param_groups:
            g["lr"] = _lr(step, tc.vq_steps, tc.vq_lr, tc.warmup)
        rec, loss, st = vq(x, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 10 == 0:
            s = vq.stats()
            bar.set_postfix(psnr=f"{psnr(rec.detach().clamp(0, 1), x):.1f}",
                            ppl=f"{s['perplexity']:.0f}", dead=s["dead_codes"])
        if (step + 1) % tc.ckpt_every == 0 or step + 1 == tc.vq_steps:
            _save_ckpt(ckpt, model=vq.state_dict(), opt=opt.state_dict(), step=step + 1,
                       rng=torch.get_rng_state())
    log(f"tokenizer: {tc.vq_steps} steps, codebook {vq.stats()}")
    return vq.eval()


DECODER_CKPT = "vq_decoder_ckpt.pt"


def _decoder_shape(cfg: VQConfig) -> dict:
    """The fields of a VQConfig that shape its decoder only (the tokens do not depend on them)."""
    return {"out_scale": cfg.out_scale, "decoder_width": cfg.decoder_width, "bottom_blocks": cfg.bottom_blocks}


def finetune_decoder(tc: TrainConfig, seed: int, work: Path, steps: int, resume: bool = True,
                     log=print, scale: int = 1, width: int = 0, blocks: int = 0) -> VQVAE:
    """Train only the tokenizer's DECODER further, on fresh scenes, with the encoder and codebook
    frozen (no EMA updates): every image keeps its tokens, so a transformer trained on them stays
    valid while its pictures get sharper. Checkpoints to `work/vq_decoder_ckpt.pt`, which `run`
    then uses. A decoder of another shape is trained NEW, from the same frozen tokens:
    `scale` 2 paints them at twice the tokenizer's input size (the scene rendered at that size is
    its target), so the stream stays short while the pictures reach the resolution where the
    oracle reads shapes; `width` (channels at grid resolution) and `blocks` (residual blocks
    there) give it more room to infer a shape from the codes around each token (0: as the
    tokenizer's)."""
    base = work / "vq_ckpt.pt"
    if not base.exists():
        raise FileNotFoundError(f"{base}: train the tokenizer first (--stage tokenizer)")
    cfg = dataclasses.replace(tc.vq, out_scale=scale, decoder_width=width or tc.vq.decoder_width,
                              bottom_blocks=blocks or tc.vq.bottom_blocks)
    shape = _decoder_shape(cfg)
    vq = VQVAE(cfg)
    state = torch.load(base, weights_only=False)["model"]
    new_decoder = shape != _decoder_shape(tc.vq)
    if new_decoder:  # only the encoder and codebook come from the tokenizer
        state = {k: v for k, v in state.items() if not k.startswith("decoder.")}
    vq.load_state_dict(state, strict=not new_decoder)
    for part in (vq.encoder, vq.codebook):
        part.requires_grad_(False)
    opt = torch.optim.Adam(vq.decoder.parameters(), lr=tc.vq_lr / 2)
    ckpt, step = work / DECODER_CKPT, 0
    if resume and ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        held = _stored_decoder_shape(st, tc.vq)
        if held != shape:
            diff = ", ".join(f"{k} {held[k]}, not {shape[k]}" for k in shape if held[k] != shape[k])
            raise ValueError(f"{ckpt} holds a decoder with {diff}: move it away to start another")
        vq.load_state_dict(st["model"]), opt.load_state_dict(st["opt"])
        step = st["step"]
    vq.eval()  # encoder and codebook as at inference (no EMA update); the decoder has no BN/dropout
    bar = tqdm(range(step, steps), desc="decoder", initial=step, total=steps)
    for step in bar:
        x, w = vq_batch(seed, tc.vq_steps + step, tc.vq_batch, tc.vq.image_size, tc.fg_weight)
        target = None
        if scale != 1:
            target, w = vq_batch(seed, tc.vq_steps + step, tc.vq_batch, cfg.out_size, tc.fg_weight)
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, tc.vq_lr / 2, tc.warmup)
        rec, loss, _ = vq(x, w, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 10 == 0:
            bar.set_postfix(psnr=f"{psnr(rec.detach().clamp(0, 1), x if target is None else target):.1f}")
        if (step + 1) % tc.ckpt_every == 0 or step + 1 == steps:
            _save_ckpt(ckpt, model=vq.state_dict(), opt=opt.state_dict(), step=step + 1,
                       done=step + 1 == steps, **shape)
    log(f"decoder fine-tuned for {steps} steps")
    return vq


def _stored_decoder_shape(st: dict, base: VQConfig) -> dict:
    """The decoder shape a `finetune_decoder` checkpoint holds (older ones stored only out_scale)."""
    return {"out_scale": st.get("out_scale", 1), "decoder_width": st.get("decoder_width", 0),
            "bottom_blocks": st.get("bottom_blocks", base.bottom_blocks)}


def _with_finetuned_decoder(vq: VQVAE, work: Path, log=print) -> tuple[VQVAE, int]:
    """`vq` with the decoder of a finished `finetune_decoder` run in `work`, and its step count (0: none)."""
    ckpt = work / DECODER_CKPT
    if not ckpt.exists():
        return vq, 0
    st = torch.load(ckpt, weights_only=False)
    if not st.get("done"):
        log(f"{ckpt}: decoder fine-tuning unfinished, using the tokenizer's own decoder")
        return vq, 0
    shape = _stored_decoder_shape(st, vq.cfg)
    if shape != _decoder_shape(vq.cfg):
        vq = VQVAE(dataclasses.replace(vq.cfg, **shape))
    vq.load_state_dict(st["model"])
    return vq.eval(), int(st["step"])


# ---------------------------------------------------------------------------------------- text
def fit_text_tokenizer(tc: TrainConfig, seed: int) -> TextTokenizer:
    """BPE on several phrasings of scenes of every kind (split 'all': the words are shared)."""
    texts = [c for i in range(tc.bpe_scenes)
             for c in scene_captions(scene_at(seed + 1, i, "all"), scene_rng(seed + 1, i, "all", 1), 6)]
    return TextTokenizer(train_bpe(texts, tc.bpe_vocab), tc.dalle.text_len)


# ---------------------------------------------------------------------------------------- transformer
def object_token_masks(seed: int, n: int, image_size: int, grid: int, split: str = "train",
                       batch: int = 512, offset: int = 10_000_000) -> torch.Tensor:
    """(n, G*G) bool of the same scenes as `tokenize_scenes`: the image tokens whose patch holds
    object pixels, dilated by one token (the neighbours draw the outline, which is the shape)."""
    out = []
    for a in tqdm(range(0, n, batch), desc="object masks"):
        scenes = [scene_at(seed, offset + i, split) for i in range(a, min(n, a + batch))]
        m = token_masks(render_with_objects(scenes, image_size)[1], grid)   # (B, 1, G, G)
        m = torch.nn.functional.max_pool2d(m.float(), 3, stride=1, padding=1)
        out.append(m.flatten(1) > 0)
    return torch.cat(out)


def token_masks(object_pixels: torch.Tensor, grid: int) -> torch.Tensor:
    """Object pixel masks (B, 1, S, S) from `render_with_objects` -> (B, 1, G, G) bool: the image
    tokens whose patch holds object pixels."""
    return torch.nn.functional.adaptive_max_pool2d(object_pixels, grid) > 0


@torch.no_grad()
def tokenize_scenes(vq: VQVAE, seed: int, n: int, split: str = "train", batch: int = 512,
                    offset: int = 10_000_000) -> torch.Tensor:
    """Image tokens (n, G*G) int16 of scenes offset..offset+n of world `seed`."""
    out = []
    for a in tqdm(range(0, n, batch), desc="tokenize images"):
        scenes = [scene_at(seed, offset + i, split) for i in range(a, min(n, a + batch))]
        img = torch.from_numpy(render_batch(scenes, vq.cfg.image_size)).permute(0, 3, 1, 2)
        out.append(vq.encode(img).to(torch.int16))
    return torch.cat(out)


def _scene_cache(work: Path, stem: str, n: int, resume: bool, log, make) -> torch.Tensor:
    """Rows for the first `n` training scenes, cached as `<stem>_<n>.pt` in `work`. `make(a, k)`
    computes scenes a..a+k. On --resume a smaller cache of the same run is its prefix (scene i is
    the same scene whatever n is), so a larger --tf-scenes computes only the new scenes."""
    file = work / f"{stem}_{n}.pt"
    if resume and file.exists():
        return torch.load(file)
    have = sorted(int(f.stem.rsplit("_", 1)[1]) for f in work.glob(f"{stem}_*.pt")
                  if f.stem.rsplit("_", 1)[1].isdigit()) if resume else []
    prefix = max((m for m in have if m < n), default=0)
    parts = [torch.load(work / f"{stem}_{prefix}.pt")] if prefix else []
    if prefix:
        log(f"{stem}: scenes 0..{prefix} from {stem}_{prefix}.pt, computing {prefix}..{n}")
    rows = torch.cat(parts + [make(prefix, n - prefix)])
    torch.save(rows, file)
    return rows


def tf_batch(tok: TextTokenizer, images: torch.Tensor, seed: int, step: int, batch: int,
             dropout: float, offset: int = 10_000_000):
    """(text (B, T), image (B, N)) for transformer step `step`: a seeded permutation per epoch,
    a fresh caption phrasing per epoch, `dropout` of captions emptied."""
    n = len(images)
    epoch, k = divmod(step * batch, n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
    idx = perm[k:k + batch]
    if len(idx) < batch:  # wrap into the next epoch's order
        perm2 = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch + 1))
        idx = torch.cat([idx, perm2[: batch - len(idx)]])
    rng = np.random.default_rng([seed, step, 7])
    caps = []
    for i in idx.tolist():
        if rng.random() < dropout:
            caps.append("")
        else:
            scene = scene_at(seed, offset + i, "train")
            caps.append(sample_caption(scene, scene_rng(seed, offset + i, "train", 1 + epoch)))
    return tok.encode(caps), images[idx].long(), idx


def train_transformer(tc: TrainConfig, tok: TextTokenizer, images: torch.Tensor, seed: int,
                      work: Path, resume: bool, log=print,
                      object_masks: torch.Tensor | None = None,
                      command: str = "") -> tuple[DalleTransformer, list[float], dict]:
    """`object_masks` (len(images), N) bool: tokens weighted 1 + tc.tf_object_weight in the loss.
    Returns the model, every step's loss, and the run's lineage kept in the checkpoint:
    `seconds` (the training loop's wall-clock over all continuations) and `commands` (each call
    that trained it, `command` last if this call trained at least one step)."""
    ckpt = work / "tf_ckpt.pt"
    _seed_all(seed)
    model = DalleTransformer(tc.dalle)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc.tf_lr, betas=(0.9, 0.95))
    step, losses, spent, commands = 0, [], 0.0, []
    if resume and ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st["model"]), opt.load_state_dict(st["opt"])
        step, losses, spent = st["step"], st["losses"], st.get("seconds", 0.0)
        commands = list(st.get("commands", []))
        torch.set_rng_state(st["rng"])
        if st.get("done") and spent >= tc.tf_minutes * 60 - 1:
            # finished; a larger --tf-minutes continues it instead
            return model.eval(), losses, {"seconds": spent, "commands": commands}
    # an interrupted call resumed with the same command is one entry, not two
    trained_by = commands if commands[-1:] == [command] or not command else commands + [command]
    model.train()
    budget = tc.tf_minutes * 60
    t0 = time.time() - spent
    start = len(losses)

    def progress(s: int) -> float:  # share of the run done: by steps or by the time budget
        return max((s - tc.warmup) / max(1, tc.tf_steps - tc.warmup), (time.time() - t0) / budget)

    bar = tqdm(range(step, tc.tf_steps), desc="transformer", initial=step, total=tc.tf_steps)
    for step in bar:
        p = progress(step)
        if p >= 1.0:
            log(f"transformer: time budget of {tc.tf_minutes} min reached at step {step}")
            break
        text, image, idx = tf_batch(tok, images, seed, step, tc.tf_batch, tc.caption_dropout)
        weight = None
        if object_masks is not None and tc.tf_object_weight:
            weight = 1 + tc.tf_object_weight * object_masks[idx].float()
        for g in opt.param_groups:
            g["lr"] = _lr(step, tc.tf_steps, tc.tf_lr, tc.warmup, p if step >= tc.warmup else None)
        loss = model.loss(text, image, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if (step + 1) % tc.ckpt_every == 0:
            _save_ckpt(ckpt, model=model.state_dict(), opt=opt.state_dict(), step=step + 1,
                       losses=losses, rng=torch.get_rng_state(), seconds=time.time() - t0,
                       commands=trained_by)
    if len(losses) > start:
        commands = trained_by
    seconds = time.time() - t0
    _save_ckpt(ckpt, model=model.state_dict(), opt=opt.state_dict(), step=len(losses), losses=losses,
               rng=torch.get_rng_state(), seconds=seconds, done=True, commands=commands)
    return model.eval(), losses, {"seconds": seconds, "commands": commands}


# ---------------------------------------------------------------------------------------- all
def run(out: str | Path, config: str = "small", seed: int = 0, work: str | Path | None = None,
        resume: bool = False, threads: int = 2, log=print, stop_after: str = "all",
        tf_minutes: float | None = None, decoder_steps: int = 0,
        object_weight: float | None = None, decoder_scale: int = 1, tf_steps: int | None = None,
        decoder_width: int = 0, decoder_blocks: int = 0, tf_scenes: int | None = None) -> Path:
    """Train tokenizer, BPE and transformer; write fp16 weights + config.json to `out`.
    `tf_minutes` overrides the recipe's transformer budget (with `resume`, a larger budget
    continues a finished run: the cosine schedule picks up where the new budget puts it)."""
    from .pipeline import save_pipeline

    torch.set_num_threads(threads)
    tc = CONFIGS[config]
    if tf_minutes is not None:
        tc = dataclasses.replace(tc, tf_minutes=float(tf_minutes))
    if object_weight is not None:
        tc = dataclasses.replace(tc, tf_object_weight=float(object_weight))
    if tf_steps is not None:
        tc = dataclasses.replace(tc, tf_steps=int(tf_steps))
    if tf_scenes is not None:
        tc = dataclasses.replace(tc, tf_scenes=int(tf_scenes))
    out = Path(out)
    work = Path(work or Path("var") / "dalle" / f"{config}-seed{seed}")
    work.mkdir(parents=True, exist_ok=True)
    times = {}
    if stop_after == "decoder":  # the tokenizer's checkpoint must exist; its tokens stay as they are
        finetune_decoder(tc, seed, work, decoder_steps, resume=True, log=log, scale=decoder_scale,
                         width=decoder_width, blocks=decoder_blocks)
        return work
    t0 = time.time()
    vq = train_tokenizer(tc, seed, work, resume, log)
    times["tokenizer_s"] = round(time.time() - t0, 1)
    if stop_after == "tokenizer":
        return work
    tok = fit_text_tokenizer(tc, seed)
    dcfg = DalleConfig(**{**tc.dalle.to_dict(), "text_vocab": tok.vocab_size,
                          "image_vocab": tc.vq.codebook_size, "image_grid": tc.vq.grid})
    tc.dalle = dcfg
    t1 = time.time()
    images = _scene_cache(work, "tokens", tc.tf_scenes, resume, log,
                          lambda a, n: tokenize_scenes(vq, seed, n, offset=10_000_000 + a))
    masks = None
    if tc.tf_object_weight:
        masks = _scene_cache(work, "object_masks", tc.tf_scenes, resume, log,
                             lambda a, n: object_token_masks(seed, n, tc.vq.image_size, tc.vq.grid,
                                                             offset=10_000_000 + a))
    command = (f"python -m ml_core.train dalle --out {out} --seed {seed} --config {config} --threads {threads}"
               + (" --resume" if resume else "")
               + (f" --tf-minutes {tc.tf_minutes:g}" if tf_minutes is not None else "")
               + (f" --object-weight {tc.tf_object_weight:g}" if object_weight is not None else "")
               + (f" --tf-steps {tc.tf_steps}" if tf_steps is not None else "")
               + (f" --tf-scenes {tc.tf_scenes}" if tf_scenes is not None else ""))
    model, losses, lineage = train_transformer(tc, tok, images, seed, work, resume, log, masks, command)
    times["transformer_s"] = round(time.time() - t1, 1)             # this call, tokenizing included
    times["transformer_train_total_s"] = round(lineage["seconds"], 1)  # the loop, all continuations
    vq, decoder_steps = _with_finetuned_decoder(vq, work, log)  # same tokens, sharper pictures
    facts = {"train_config": config, "seed": seed, "vq_steps": tc.vq_steps, "vq_batch": tc.vq_batch,
             "tf_steps": len(losses), "tf_minutes_budget": tc.tf_minutes, "tf_batch": tc.tf_batch, "tf_scenes": tc.tf_scenes,
             "caption_dropout": tc.caption_dropout, "tf_object_weight": tc.tf_object_weight, "times": times, "threads": threads,
             "decoder_finetune_steps": decoder_steps, "decoder_out_scale": vq.cfg.out_scale,
             "decoder_width": vq.cfg.decoder_width, "decoder_bottom_blocks": vq.cfg.bottom_blocks,
             "final_loss": float(np.mean(losses[-50:])), "first_loss": float(np.mean(losses[:10])),
             "codebook": vq.stats(), "sampling": dict(SAMPLING),
             "command": command, "transformer_commands": lineage["commands"]}
    save_pipeline(out, vq, tok, model, facts)
    (work / "losses.json").write_text(json.dumps(losses))
    log(f"saved {out} ({json.dumps(times)})")
    return out
