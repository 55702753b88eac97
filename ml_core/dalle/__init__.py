"""Atelier's DALL·E-style text-to-image model, small enough to train on the synthetic world on a CPU.

    from ml_core.dalle import load_dalle
    dalle = load_dalle()                                   # ml_core/weights/dalle (DalleWeightsError if absent)
    out = dalle.sampler().sample("a red circle on the left", n=16, seed=0, cond_scale=2.0, top_k=64)
    out.images                                             # (16, 3, 32, 32) float in [0, 1]

Parts: `vqvae` (image tokenizer: VQ-VAE, EMA codebook, dead-code restart), `text` (BPE, fixed
length), `model` (decoder-only transformer over [text | image tokens], reference `generate`),
`sampler` (batched, KV cache, temperature/top-k/top-p, per-candidate seeds, classifier-free
guidance, row previews, image completion), `training` (the stages, on ml_core's trainer) and
`training_data` (their batches), `pipeline` (save/load).
Train: `python -m ml_core.train dalle`; measure: `python -m ml_core.eval dalle --json`
(``ml_core.eval.dalle``).
"""
from .model import DalleConfig, DalleTransformer, KVCache
from .pipeline import DEFAULT_DIR, Dalle, DalleWeightsError, load_dalle, save_pipeline
from .sampler import Preview, Sampler, Samples, candidate_seed
from .text import TextTokenizer, train_bpe
from .vqvae import VQConfig, VQVAE, psnr

__all__ = [
    "DEFAULT_DIR", "Dalle", "DalleConfig", "DalleTransformer", "DalleWeightsError", "KVCache",
    "Preview", "Sampler", "Samples", "TextTokenizer", "VQConfig", "VQVAE", "candidate_seed",
    "load_dalle", "psnr", "save_pipeline", "train_bpe",
]
