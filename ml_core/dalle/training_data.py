"""The training data of the DALL·E stages, drawn from the synthetic world: every batch is a pure
function of (world seed, step), so a resumed run sees the batches it would have seen.

Image tokenizer: batch s is scenes s*B..(s+1)*B of the world, with per-pixel loss weights that
favour object pixels (the oracle reads objects). Transformer: scenes 10,000,000.. of the world,
tokenized once (cached in the work directory), in a seeded order per epoch, with a fresh caption
phrasing per epoch and a share of empty captions (for classifier-free guidance).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..synth.captions import captions as scene_captions, sample_caption
from ..synth.render import render_background, render_batch
from ..synth.sampling import scene_at, scene_rng
from .text import TextTokenizer, train_bpe
from .vqvae import VQVAE


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


@dataclass(frozen=True)
class TokenizerBatches:
    """``make_batch(step)`` of the tokenizer and decoder stages -> (images (B, 3, S, S), loss weights,
    target or None): the images at ``size`` px; a super-resolving decoder gets the same scenes
    rendered at ``target_size`` px as its target (and the weights at that size)."""
    seed: int
    batch: int
    size: int
    fg_weight: float
    first_step: int = 0                 # the decoder stage draws the scenes after the tokenizer's
    target_size: int | None = None

    def __call__(self, step: int):
        x, w = vq_batch(self.seed, self.first_step + step, self.batch, self.size, self.fg_weight)
        if self.target_size in (None, self.size):
            return x, w, None
        target, w = vq_batch(self.seed, self.first_step + step, self.batch, self.target_size, self.fg_weight)
        return x, w, target


# ---------------------------------------------------------------------------------------- text
def fit_text_tokenizer(seed: int, scenes: int, vocab: int, text_len: int) -> TextTokenizer:
    """BPE on several phrasings of scenes of every kind (split 'all': the words are shared)."""
    texts = [c for i in range(scenes)
             for c in scene_captions(scene_at(seed + 1, i, "all"), scene_rng(seed + 1, i, "all", 1), 6)]
    return TextTokenizer(train_bpe(texts, vocab), text_len)


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


def scene_cache(work: Path, stem: str, n: int, resume: bool, log, make) -> torch.Tensor:
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


class TransformerBatches:
    """``make_batch(step)`` of the transformer stage -> (text (B, T), image tokens (B, N), loss
    weights (B, N) or None): ``tf_batch``'s, the tokens at or next to an object weighted
    1 + ``object_weight`` where ``object_masks`` are given."""

    def __init__(self, tok: TextTokenizer, images: torch.Tensor, seed: int, batch: int, dropout: float,
                 object_masks: torch.Tensor | None = None, object_weight: float = 0.0):
        self.tok, self.images, self.seed, self.batch, self.dropout = tok, images, seed, batch, dropout
        self.object_masks = object_masks if object_weight else None
        self.object_weight = object_weight

    def __call__(self, step: int):
        text, image, idx = tf_batch(self.tok, self.images, self.seed, step, self.batch, self.dropout)
        if self.object_masks is None:
            return text, image, None
        return text, image, 1 + self.object_weight * self.object_masks[idx].float()
