"""Batched, seeded, cached sampling of image tokens from text (and optionally from an image's top rows).

    sampler = Sampler(model, text_tokenizer, vq)
    out = sampler.sample("a red circle on the left", n=16, seed=0, temperature=1.0, top_k=64,
                         top_p=None, cond_scale=2.0)          # out.tokens (16, N), out.images (16, 3, S, S)
    for preview in sampler.stream(...): ...                  # after each grid row: rows decoded so far

Determinism: candidate i draws its randomness from its own torch.Generator seeded with
candidate_seed(seed, i) (one uniform per image position, drawn up front), and picks a token by
inverting the CDF of its filtered distribution. So (prompt, seed, settings) always gives the same
images, and candidate i is the same image whether n is 4 or 64.

Classifier-free guidance (super-conditioning): the model was trained with ~15 % empty captions, so
it also knows p(image); with cond_scale s the logits are u + s * (c - u) where c/u are the
conditional/unconditional logits (the batch is run as 2n rows: n with the caption, n without).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from .model import DalleTransformer, KVCache


def candidate_seed(seed: int, i: int) -> int:
    """A well-mixed 63-bit seed for candidate i of request `seed` (splitmix64 of both)."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + int(i) * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) % 2**64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    return (z ^ (z >> 31)) >> 1


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int | None,
                  top_p: float | None) -> torch.Tensor:
    """(B, V) logits -> (B, V) probabilities after temperature, top-k and nucleus (top-p) filtering."""
    logits = logits.float() / max(temperature, 1e-6)
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1)
    if top_p is not None and top_p < 1.0:
        sp, si = probs.sort(-1, descending=True)
        drop = sp.cumsum(-1) - sp > top_p          # keep the smallest prefix whose mass reaches top_p
        sp = sp.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, si, sp)
    return probs / probs.sum(-1, keepdim=True)


def pick(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling: probs (B, V), u (B,) uniforms in [0, 1) -> token ids (B,)."""
    cdf = probs.double().cumsum(-1)
    idx = torch.searchsorted(cdf, (u.double() * cdf[:, -1]).unsqueeze(-1)).squeeze(-1)
    return idx.clamp_max(probs.shape[-1] - 1)


@dataclass
class Samples:
    tokens: torch.Tensor              # (n, N) image tokens
    images: torch.Tensor | None       # (n, 3, S, S) float in [0, 1] (None without a tokenizer)
    seeds: list[int]                  # per-candidate seeds


@dataclass
class Preview:
    rows: int                         # grid rows sampled so far
    tokens: torch.Tensor              # (n, rows * G)
    images: torch.Tensor | None       # (n, 3, S, S): rows decoded so far, the rest grey


class Sampler:
    def __init__(self, model: DalleTransformer, text_tokenizer=None, vq=None):
        self.model, self.text, self.vq = model.eval(), text_tokenizer, vq
        self.cfg = model.cfg

    # ------------------------------------------------------------------------------ public API
    def sample(self, prompt, n: int = 4, seed: int = 0, first: int = 0, **settings) -> Samples:
        """Candidates first..first+n-1 for `prompt` (a str or text ids (T,)); settings as for `stream`."""
        last = None
        for last in self.stream(prompt, n, seed, first=first, preview=False, **settings):
            pass
        images = self.decode(last.tokens) if self.vq is not None else None
        return Samples(last.tokens, images, [candidate_seed(seed, first + i) for i in range(n)])

    def complete(self, image_tokens: torch.Tensor, rows: int, prompt="", n: int = 4, seed: int = 0,
                 **settings) -> Samples:
        """Image completion: keep the top `rows` grid rows of `image_tokens` (N,) and sample the rest."""
        prime = image_tokens.reshape(-1)[: rows * self.cfg.image_grid]
        return self.sample(prompt, n, seed, prime=prime, **settings)

    @torch.no_grad()
    def stream(self, prompt, n: int = 4, seed: int = 0, *, first: int = 0, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, cond_scale: float = 1.0,
               prime: torch.Tensor | None = None, use_cache: bool = True,
               preview: bool = True) -> Iterator[Preview]:
        """Yields a Preview after every completed grid row (the last one holds all tokens).
        temperature 0 = greedy. prime: image tokens (k,) fixed at the start (completion).
        first: index of the first candidate, so a request can be sampled in chunks (candidate i of
        (prompt, seed, settings) is the same image in any chunking)."""
        cfg, G, N = self.cfg, self.cfg.image_grid, self.cfg.image_len
        dev = next(self.model.parameters()).device
        text = self._text(prompt).to(dev).expand(n, -1)                        # (n, T)
        guided = cond_scale != 1.0
        if guided:
            empty = self.empty_text().to(dev).expand(n, -1)
            text = torch.cat([text, empty])                                    # (2n, T)
        uniforms = torch.stack([torch.rand(N, generator=torch.Generator().manual_seed(
            candidate_seed(seed, first + i))) for i in range(n)]).to(dev)              # (n, N)
        image = torch.empty(n, 0, dtype=torch.long, device=dev)
        if prime is not None and len(prime):
            image = prime.to(dev).long().reshape(1, -1).expand(n, -1).clone()
        cache = KVCache(cfg, text.shape[0], dev) if use_cache else None
        logits = None
        for j in range(image.shape[1], N):
            logits = self._next_logits(text, image, cache, logits is None)     # (n or 2n, V)
            if guided:
                c, u = logits[:n], logits[n:]
                logits = u + cond_scale * (c - u)
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                nxt = pick(filter_logits(logits, temperature, top_k, top_p), uniforms[:, j])
            image = torch.cat([image, nxt[:, None]], 1)
            if (j + 1) % G == 0 and (preview or j + 1 == N):
                yield Preview((j + 1) // G, image, self._partial(image) if preview else None)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.vq.decode(tokens)

    # ------------------------------------------------------------------------------ internals
    def _text(self, prompt) -> torch.Tensor:
        if isinstance(prompt, torch.Tensor):
            return prompt.reshape(1, -1).long()
        return self.text.encode([prompt])

    def _next_logits(self, text, image, cache: KVCache | None, first: bool) -> torch.Tensor:
        """Logits for the next image token of every row."""
        B = text.shape[0]
        img = image if image.shape[0] == B else image.repeat(B // image.shape[0], 1)  # guided: 2n rows
        if cache is None:                                  # recompute the whole stream
            return self.model(text, img)[:, -1]
        if first:                                          # prefill text (+ primed tokens)
            return self.model(text, img, cache)[:, -1]
        return self.model(None, img[:, -1:], cache)[:, -1]

    def empty_text(self) -> torch.Tensor:
        """(1, T) ids of the empty caption [BOS][EOS][PAD]... (the unconditional input)."""
        if self.text is not None:
            return self.text.encode([""])
        ids = torch.zeros(1, self.cfg.text_len, dtype=torch.long)  # PAD=0, BOS=1, EOS=2
        ids[0, :2] = torch.tensor([1, 2])
        return ids

    def _partial(self, image: torch.Tensor) -> torch.Tensor | None:
        if self.vq is None:
            return None
        G, N = self.cfg.image_grid, self.cfg.image_len
        rows = image.shape[1] // G
        full = torch.cat([image, image[:, -1:].expand(-1, N - image.shape[1])], 1)
        out = self.vq.decode(full)
        cut = rows * out.shape[-1] // G
        out[:, :, cut:] = 0.5
        return out
