"""The DALL·E-style transformer: one decoder-only GPT over [text tokens | image tokens].

    stream    t_0 ... t_{T-1}  i_0 ... i_{N-2}          T = text_len, N = grid * grid image tokens
    predicts                 i_0  i_1 ... i_{N-1}       (the last text position predicts i_0)

Text positions get a text-token embedding plus a learned position; image positions get an
image-token embedding plus a learned ROW and a learned COLUMN embedding (the image is a grid read
row-major). Attention is causal over the whole stream and goes through
`F.scaled_dot_product_attention`. Only image tokens are predicted (the text is always given).

Read top-down: config, attention (with an optional KV cache), block, model, and the tiny
cache-free `generate` that is the reference for `sampler.Sampler` (tests check they agree).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DalleConfig:
    text_vocab: int = 512   # BPE ids (PAD=0, BOS=1, EOS=2, UNK=3)
    text_len: int = 24      # T: fixed caption length with padding
    image_vocab: int = 512  # codebook size of the image tokenizer
    image_grid: int = 8     # G: image tokens form a G x G grid, N = G * G
    n_layer: int = 6
    n_head: int = 4
    n_embd: int = 192
    dropout: float = 0.0

    @property
    def image_len(self) -> int:
        return self.image_grid ** 2

    @property
    def block_size(self) -> int:  # longest stream: all text + all but the last image token
        return self.text_len + self.image_len - 1

    def to_dict(self) -> dict:
        return asdict(self)


class KVCache:
    """Preallocated keys/values for every layer: (B, H, block_size, head_dim) each; `pos` is filled."""

    def __init__(self, cfg: DalleConfig, batch: int, device=None, dtype=torch.float32):
        hd = cfg.n_embd // cfg.n_head
        shape = (cfg.n_layer, batch, cfg.n_head, cfg.block_size, hd)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0

    def reorder(self, index: torch.Tensor) -> None:
        """Keep/duplicate batch rows (e.g. after choosing candidates)."""
        self.k, self.v = self.k[:, index], self.v[:, index]


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: DalleConfig):
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, t, C = x.shape                                              # (B, t, C)
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (z.view(B, t, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        if cache is None:                                              # q, k, v: (B, H, t, hd)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        else:
            p = cache.pos
            cache.k[layer, :, :, p:p + t] = k
            cache.v[layer, :, :, p:p + t] = v
            k, v = cache.k[layer, :, :, :p + t], cache.v[layer, :, :, :p + t]   # (B, H, p+t, hd)
            if t == 1:                                                 # one new query sees all
                y = F.scaled_dot_product_attention(q, k, v)
            else:                                                      # prefill: causal, offset p
                mask = torch.ones(t, p + t, dtype=torch.bool, device=x.device).tril(p)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(B, t, C))


class Block(nn.Module):
    def __init__(self, cfg: DalleConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.dropout))

    def forward(self, x, cache: KVCache | None = None, layer: int = 0):
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class DalleTransformer(nn.Module):
    def __init__(self, cfg: DalleConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.n_embd
        self.text_emb = nn.Embedding(cfg.text_vocab, d)
        self.text_pos = nn.Embedding(cfg.text_len, d)
        self.image_emb = nn.Embedding(cfg.image_vocab, d)
        self.row_emb = nn.Embedding(cfg.image_grid, d)
        self.col_emb = nn.Embedding(cfg.image_grid, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.image_vocab, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed(self, text: torch.Tensor | None, image: torch.Tensor | None, start: int = 0) -> torch.Tensor:
        """Embed the stream slice that starts at position `start`: text (B, t) ids (only when the
        slice begins inside the text) followed by image (B, n) ids. -> (B, t + n, C)."""
        parts = []
        if text is not None and text.shape[1]:
            pos = torch.arange(start, start + text.shape[1], device=text.device)
            parts.append(self.text_emb(text) + self.text_pos(pos))
            start += text.shape[1]
        if image is not None and image.shape[1]:
            i = torch.arange(start - self.cfg.text_len, start - self.cfg.text_len + image.shape[1],
                             device=image.device)                       # image position index
            g = self.cfg.image_grid
            parts.append(self.image_emb(image) + self.row_emb(i // g) + self.col_emb(i % g))
        return torch.cat(parts, 1)

    def forward(self, text: torch.Tensor | None, image: torch.Tensor | None,
                cache: KVCache | None = None) -> torch.Tensor:
        """Without cache: text (B, T) and image (B, n) -> logits (B, T + n, image_vocab) at every
        position (position T-1+j predicts image token j). With a cache: the next slice of the stream
        (starting at cache.pos) -> its logits; the cache advances."""
        start = cache.pos if cache is not None else 0
        x = self.drop(self.embed(text, image, start))                  # (B, t, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)
        if cache is not None:
            cache.pos += x.shape[1]
        return self.head(self.ln_f(x))                                 # (B, t, V_img)

    def loss(self, text: torch.Tensor, image: torch.Tensor,
             weight: torch.Tensor | None = None) -> torch.Tensor:
        """Next-image-token cross entropy: text (B, T), image (B, N) -> scalar; with `weight`
        (B, N) a weighted mean over the image tokens."""
        T = self.cfg.text_len
        logits = self(text, image[:, :-1])[:, T - 1:]                  # (B, N, V_img)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), image.reshape(-1),
                             reduction="none" if weight is not None else "mean")
        if weight is None:
            return ce
        w = weight.reshape(-1).to(ce.dtype)
        return (ce * w).sum() / w.sum()

    @torch.no_grad()
    def generate(self, text: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Reference sampler, no cache: text (B, T) -> image tokens (B, N). temperature 0 = greedy."""
        image = text.new_zeros(text.shape[0], 0)
        for _ in range(self.cfg.image_len):
            logits = self(text, image)[:, -1]                          # (B, V_img)
            if temperature == 0:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator)
            image = torch.cat([image, nxt], 1)
        return image
