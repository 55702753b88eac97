"""The image tokenizer: a VQ-VAE with an EMA codebook and dead-code restart.

    image (B, 3, S, S) in [0, 1] --encoder--> z (B, D, S/f, S/f) --nearest code--> tokens (B, S/f, S/f)
    tokens --codebook lookup--> z_q --decoder--> image

The codebook is not trained by gradients: each code moves to the exponential moving average of
the encoder outputs assigned to it (van den Oord et al. 2017, appendix; Razavi et al. 2019), which
is stable on small batches. A code that has not been picked for a while (EMA count below
`dead_threshold`) is restarted on a random encoder output of the current batch, so the codebook
cannot collapse onto a handful of codes (a first version here collapsed to 4 codes without it).
`stats` reports codebook perplexity and the number of dead codes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class VQConfig:
    image_size: int = 32      # input side in pixels
    downsample: int = 4       # S / grid side; 2 stride-2 stages per factor 4
    channels: int = 64        # width at full resolution (doubles once per stage, capped at max_mult)
    res_blocks: int = 1       # residual blocks per stage 
    max_mult: int = 2         # widest stage = channels * max_mult
    bottom_blocks: int = 2    # decoder residual blocks at grid resolution (cheap, where shapes are painted)
    codebook_size: int = 512  # K
    code_dim: int = 32        # D
    beta: float = 0.25        # commitment weight
    decay: float = 0.99       # EMA decay of the codebook
    dead_threshold: float = 0.05  # EMA count under which a code is restarted
    loss: str = "mse"         # reconstruction loss: "mse" or "l1grad" (L1 + image-gradient L1)
    out_scale: int = 1        # the decoder paints out_scale x image_size pixels (a power of 2):
                              # short token streams, sharper pictures (training.finetune_decoder)
    decoder_width: int = 0    # decoder channels at grid resolution, where shapes are painted from
                              # the codes (0: the encoder's widest stage; training.finetune_decoder)

    @property
    def grid(self) -> int:
        return self.image_size // self.downsample

    @property
    def out_size(self) -> int:
        """Side in pixels of a decoded image."""
        return self.image_size * self.out_scale

    def to_dict(self) -> dict:
        return asdict(self)


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c // 2, 3, padding=1),
                                 nn.ReLU(), nn.Conv2d(c // 2, c, 1))

    def forward(self, x):
        return x + self.net(x)


def _widths(cfg: VQConfig) -> list[int]:
    stages = max(1, (cfg.downsample - 1).bit_length())  # log2(downsample)
    return [cfg.channels * min(2 ** i, cfg.max_mult) for i in range(stages + 1)]


class Encoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        w = _widths(cfg)
        layers: list[nn.Module] = [nn.Conv2d(3, w[0], 3, padding=1)]
        for a, b in zip(w[:-1], w[1:]):  # (B, a, s, s) -> (B, b, s/2, s/2)
            layers += [nn.Conv2d(a, b, 4, stride=2, padding=1)]
            layers += [ResBlock(b) for _ in range(cfg.res_blocks)]
        layers += [nn.ReLU(), nn.Conv2d(w[-1], cfg.code_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):  # (B, 3, S, S) -> (B, D, G, G)
        return self.net(x - 0.5)


class Decoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        w = _widths(cfg)[::-1]
        w[0] = cfg.decoder_width or w[0]
        layers: list[nn.Module] = [nn.Conv2d(cfg.code_dim, w[0], 3, padding=1)]
        layers += [ResBlock(w[0]) for _ in range(cfg.bottom_blocks)]
        for _ in range(max(0, (cfg.out_scale - 1).bit_length())):  # super-resolving stages, narrow
            w.append(max(8, w[-1] // 2))                               # (full resolution is costly)
        for a, b in zip(w[:-1], w[1:]):  # (B, a, s, s) -> (B, b, 2s, 2s)
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1)]
            layers += [ResBlock(b) for _ in range(cfg.res_blocks)]
        layers += [nn.ReLU(), nn.Conv2d(w[-1], 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):  # (B, D, G, G) -> (B, 3, S * out_scale, S * out_scale) in ~[0, 1]
        return self.net(z) + 0.5


class EMACodebook(nn.Module):
    """K codes of dimension D, updated by EMA of their assigned encoder outputs."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        embed = torch.randn(cfg.codebook_size, cfg.code_dim) * 0.1
        self.register_buffer("embed", embed)                                  # (K, D)
        self.register_buffer("ema_count", torch.ones(cfg.codebook_size))      # (K,)
        self.register_buffer("ema_sum", embed.clone())                        # (K, D)
        self.register_buffer("initialised", torch.tensor(False))

    def codes(self, flat: torch.Tensor) -> torch.Tensor:
        """flat (N, D) -> nearest code index (N,)."""
        d = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t()
             + self.embed.pow(2).sum(1)[None])
        return d.argmin(1)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        cfg = self.cfg
        if not bool(self.initialised):  # start the codes on real encoder outputs
            self.embed.copy_(flat[torch.randint(len(flat), (cfg.codebook_size,))])
            self.ema_sum.copy_(self.embed)
            self.initialised.fill_(True)
            idx = self.codes(flat)
        onehot = F.one_hot(idx, cfg.codebook_size).type_as(flat)              # (N, K)
        self.ema_count.mul_(cfg.decay).add_(onehot.sum(0), alpha=1 - cfg.decay)
        self.ema_sum.mul_(cfg.decay).add_(onehot.t() @ flat, alpha=1 - cfg.decay)
        n = self.ema_count.sum()
        count = (self.ema_count + 1e-5) / (n + cfg.codebook_size * 1e-5) * n   # Laplace smoothing
        self.embed.copy_(self.ema_sum / count[:, None])
        dead = self.ema_count < cfg.dead_threshold
        if dead.any():  # restart dead codes on random encoder outputs of this batch
            pick = flat[torch.randint(len(flat), (int(dead.sum()),), device=flat.device)]
            self.embed[dead] = pick
            self.ema_sum[dead] = pick
            self.ema_count[dead] = 1.0

    def forward(self, z: torch.Tensor):
        """z (B, D, G, G) -> (z_q straight-through, tokens (B, G, G), commitment loss, perplexity)."""
        B, D, G, _ = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, D)                           # (B*G*G, D)
        idx = self.codes(flat)
        if self.training:
            self._update(flat.detach(), idx)
        zq = self.embed[idx]                                                  # (B*G*G, D)
        commit = F.mse_loss(flat, zq.detach())
        probs = torch.bincount(idx, minlength=self.cfg.codebook_size).float() / len(idx)
        perplexity = torch.exp(-(probs * (probs + 1e-10).log()).sum())
        zq = flat + (zq - flat).detach()                                      # straight-through
        return zq.view(B, G, G, D).permute(0, 3, 1, 2), idx.view(B, G, G), commit, perplexity


class VQVAE(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.codebook, self.decoder = Encoder(cfg), EMACodebook(cfg), Decoder(cfg)

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None,
                target: torch.Tensor | None = None):
        """x (B, 3, S, S) in [0, 1], optional per-pixel loss weight (B, 1, S', S') and the image to
        reconstruct (B, 3, S', S'), S' = out_size (default x itself)
        -> (reconstruction, loss, stats). loss = weighted reconstruction loss + beta * commitment."""
        zq, idx, commit, ppl = self.codebook(self.encoder(x))
        rec = self.decoder(zq)
        x = x if target is None else target
        if rec.shape != x.shape:
            raise ValueError(f"reconstruction {tuple(rec.shape)} vs target {tuple(x.shape)}: "
                             f"out_scale {self.cfg.out_scale} needs a target of {self.cfg.out_size} px")
        mse = (rec - x).pow(2).mean()
        if self.cfg.loss == "mse":
            err = (rec - x).pow(2)
        else:  # "l1grad": L1 plus L1 of the image gradients -- sharper edges than MSE
            d = rec - x
            gx = F.pad((d[..., :, 1:] - d[..., :, :-1]).abs(), (0, 1))
            gy = F.pad((d[..., 1:, :] - d[..., :-1, :]).abs(), (0, 0, 0, 1))
            err = d.abs() + gx + gy
        rec_loss = err.mean() if weight is None else (err * weight).mean() / weight.mean()
        loss = rec_loss + self.cfg.beta * commit
        return rec, loss, {"mse": mse.detach(), "perplexity": ppl.detach(), "tokens": idx}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) float in [0, 1] (or uint8) -> tokens (B, G*G) long, row-major."""
        if x.dtype == torch.uint8:
            x = x.float() / 255
        z = self.encoder(x)
        B, D, G, _ = z.shape
        return self.codebook.codes(z.permute(0, 2, 3, 1).reshape(-1, D)).view(B, G * G)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, G*G) or (B, G, G) long -> images (B, 3, out_size, out_size) in [0, 1]."""
        G = self.cfg.grid
        zq = self.codebook.embed[tokens.reshape(-1, G, G)]                    # (B, G, G, D)
        return self.decoder(zq.permute(0, 3, 1, 2)).clamp(0, 1)

    @torch.no_grad()
    def stats(self) -> dict:
        """Codebook usage from the EMA counts: perplexity and dead codes."""
        p = self.codebook.ema_count / self.codebook.ema_count.sum()
        return {"perplexity": float(torch.exp(-(p * (p + 1e-10).log()).sum())),
                "dead_codes": int((self.codebook.ema_count < self.cfg.dead_threshold).sum()),
                "codebook_size": self.cfg.codebook_size}


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean PSNR in dB of images in [0, 1]."""
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())
