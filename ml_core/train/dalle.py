"""`python -m ml_core.train dalle [--out DIR] [--seed 0] [--config small64|small|grid8|tiny] [--resume]`.

Trains the image tokenizer (VQ-VAE), the BPE text tokenizer and the transformer on the synthetic
world, checkpointing into --work (default var/dalle/<config>-seed<seed>); --resume continues an
interrupted run from its last checkpoint. Each stage runs on ml_core's trainer, on --device
(default: ATELIER_DEVICE, else CUDA when present). Final fp16 weights + config.json go to --out.
"""
from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    from ml_core.dalle.training import CONFIGS, run

    p = argparse.ArgumentParser(prog="python -m ml_core.train dalle", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="ml_core/weights/dalle")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", choices=sorted(CONFIGS), default="small64", help="recipe (default: the shipped one)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints in --work")
    p.add_argument("--work", default=None, help="checkpoint directory (default var/dalle/<config>-seed<seed>)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default=None, help="torch device (default: ATELIER_DEVICE, else CUDA when present)")
    p.add_argument("--workers", type=int, default=0,
                   help="processes building batches ahead of the training step (default 0: in the training process)")
    p.add_argument("--stage", choices=("all", "tokenizer", "decoder"), default="all",
                   help="'tokenizer' stops after the image tokenizer; 'decoder' only fine-tunes the "
                        "tokenizer's decoder (--decoder-steps, encoder and codes frozen: the tokens do not change)")
    p.add_argument("--decoder-steps", type=int, default=3000, help="steps of --stage decoder")
    p.add_argument("--decoder-scale", type=int, choices=(1, 2, 4), default=1,
                   help="--stage decoder: 2 trains a new decoder painting the same tokens at twice the size")
    p.add_argument("--decoder-width", type=int, default=0,
                   help="--stage decoder: channels at grid resolution of a NEW decoder (default: the tokenizer's)")
    p.add_argument("--decoder-blocks", type=int, default=0,
                   help="--stage decoder: residual blocks at grid resolution of a NEW decoder (default: the tokenizer's)")
    p.add_argument("--tf-minutes", type=float, default=None,
                   help="transformer time budget (default: the recipe's); with --resume a larger one continues a finished run")
    p.add_argument("--tf-steps", type=int, default=None,
                   help="transformer step cap (default: the recipe's); with --resume a larger one continues a finished run")
    p.add_argument("--object-weight", type=float, default=None,
                   help="extra transformer loss weight on image tokens at/next to an object (default: the recipe's)")
    p.add_argument("--tf-scenes", type=int, default=None,
                   help="training scenes tokenized for the transformer (default: the recipe's); with --resume "
                        "a larger number tokenizes only the new scenes and continues on all of them")
    a = p.parse_args(argv)
    run(a.out, a.config, a.seed, a.work, a.resume, a.threads, stop_after=a.stage, tf_minutes=a.tf_minutes,
        decoder_steps=a.decoder_steps, object_weight=a.object_weight,
        decoder_scale=a.decoder_scale, tf_steps=a.tf_steps,
        decoder_width=a.decoder_width, decoder_blocks=a.decoder_blocks, tf_scenes=a.tf_scenes,
        device=a.device, workers=a.workers)
    return 0
