"""Saving and loading the three trained parts together, and the one-call text -> images pipeline.

A weights directory holds `config.json` (model configs + training facts), `vqvae.pt` and
`transformer.pt` (fp16 state dicts) and `bpe.json` (the Hugging Face tokenizer).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .model import DalleConfig, DalleTransformer
from .text import TextTokenizer
from .vqvae import VQConfig, VQVAE

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "weights" / "dalle"
TRAIN_COMMAND = "python -m ml_core.train dalle --out {path}"
FILES = ("config.json", "vqvae.pt", "transformer.pt", "bpe.json")


class DalleWeightsError(RuntimeError):
    """The weights directory is missing, incomplete or does not match its config."""

    def __init__(self, path: Path, problem: str):
        self.path = Path(path)
        super().__init__(f"DALL·E weights at {self.path}: {problem}. "
                         f"Create them with: {TRAIN_COMMAND.format(path=self.path)}")

    def __reduce__(self):
        return (_rebuild_error, (str(self.path), str(self)))


def _rebuild_error(path: str, message: str) -> DalleWeightsError:
    err = DalleWeightsError.__new__(DalleWeightsError)
    RuntimeError.__init__(err, message)
    err.path = Path(path)
    return err


def _half(state: dict) -> dict:
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def save_pipeline(out: str | Path, vq: VQVAE, tok: TextTokenizer, model: DalleTransformer,
                  facts: dict) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vq_state = _half(vq.state_dict())
    vq_state = {k: v for k, v in vq_state.items() if not k.startswith("codebook.ema_sum")}
    torch.save(vq_state, out / "vqvae.pt")
    torch.save(_half(model.state_dict()), out / "transformer.pt")
    tok.save(out / "bpe.json")
    meta = {"vqvae": vq.cfg.to_dict(), "transformer": model.cfg.to_dict(),
            "text_len": tok.text_len, "parameters": {"vqvae": sum(p.numel() for p in vq.parameters()),
                                                     "transformer": model.num_params()},
            **facts}
    (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


@dataclass
class Dalle:
    """The loaded parts: image tokenizer, text tokenizer, transformer, and the config/facts."""
    vq: VQVAE
    text: TextTokenizer
    model: DalleTransformer
    meta: dict
    path: Path

    def sampler(self):
        from .sampler import Sampler
        return Sampler(self.model, self.text, self.vq)

    @property
    def sampling(self) -> dict:
        """The settings these weights were evaluated with (config.json "sampling": cond_scale, top_k
        ...): what the eval and the generation backend use where the caller sets nothing."""
        return {"temperature": 1.0, "top_k": None, "cond_scale": 1.0, **self.meta.get("sampling", {})}


def _load_state(module: torch.nn.Module, file: Path, path: Path, strict: bool = True) -> None:
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        res = module.load_state_dict({k: v.float() if v.is_floating_point() else v
                                      for k, v in state.items()}, strict=strict)
    except Exception as e:  # noqa: BLE001 - any unreadable or mismatched file is the same problem
        raise DalleWeightsError(path, f"cannot load {file.name} ({type(e).__name__}: {e})") from e
    if not strict and [k for k in res.missing_keys if not k.endswith("ema_sum")]:
        raise DalleWeightsError(path, f"{file.name} lacks {res.missing_keys}")


def load_dalle(path: str | Path | None = None, device: str = "cpu") -> Dalle:
    """Load a weights directory (default ml_core/weights/dalle); DalleWeightsError names what is wrong
    and the command that creates the weights."""
    path = Path(path or DEFAULT_DIR)
    if not path.is_dir():
        raise DalleWeightsError(path, "no such directory")
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise DalleWeightsError(path, f"missing {', '.join(missing)}")
    try:
        meta = json.loads((path / "config.json").read_text())
        vq = VQVAE(VQConfig(**meta["vqvae"]))
        model = DalleTransformer(DalleConfig(**meta["transformer"]))
        text = TextTokenizer.load(path / "bpe.json", meta["text_len"])
    except Exception as e:  # noqa: BLE001
        raise DalleWeightsError(path, f"unreadable config or tokenizer ({type(e).__name__}: {e})") from e
    _load_state(vq, path / "vqvae.pt", path, strict=False)
    vq.codebook.ema_sum.copy_(vq.codebook.embed * vq.codebook.ema_count[:, None])
    _load_state(model, path / "transformer.pt", path)
    return Dalle(vq.eval().to(device), text, model.eval().to(device), meta, path)
