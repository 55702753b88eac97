"""Benchmark: image tokens per second of Atelier's DALL·E sampler, KV cache vs no cache.

Samples N=64 candidates in one batch for one prompt with the shipped model (ml_core/weights/dalle;
random weights of the same config when absent: speed does not depend on the weights), unguided
and guided (cond_scale 2: 2N rows), and the SAME sampler with use_cache=False. The no-cache run
recomputes the whole stream at every step, so its cost grows with the position; by default it is
timed on every `--stride`-th position and the total is integrated from those steps (the steps are
the real sampler's `_next_logits` at that prefix length); `--full` times the whole run instead.
Also reports peak resident memory. Last line: one JSON object.

Comparison: lucidrains' dalle-pytorch (`generate_images(..., use_cache=True)`, guided and unguided)
at the same size (dim, depth, heads, text length, vocabularies, 16x16 image tokens), same N and
threads, run in the benchmark's own venv bench/.venvs/dalle_pytorch, created when missing:
`pip install --no-deps` of dalle-pytorch and its imports, with this machine's torch (the project
venv's site-packages are put on its path by a .pth file, so nothing big is downloaded).
`--no-compare` skips it.

    .venv/bin/python bench/sample.py [--quick] [--full] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_core.dalle import DalleConfig, DalleTransformer, Sampler, load_dalle  # noqa: E402
from ml_core.dalle.model import KVCache  # noqa: E402


def build(grid: int | None):
    """(model, text tokenizer or None, description): the shipped model, or its config at `grid`."""
    try:
        dalle = load_dalle()
        cfg, text, model = dalle.model.cfg, dalle.text, dalle.model
        source = "shipped weights"
    except Exception as e:  # noqa: BLE001
        from ml_core.dalle.training import CONFIGS
        cfg = DalleConfig(**{**CONFIGS["small"].dalle.to_dict(), "image_grid": 16, "text_vocab": 300})
        text, model, source = None, None, f"random weights, small config ({type(e).__name__})"
    if grid is not None and grid != cfg.image_grid:
        cfg = DalleConfig(**{**cfg.to_dict(), "image_grid": grid})
        model, source = None, f"random weights, config of the shipped model at {grid}x{grid}"
    if model is None:
        torch.manual_seed(0)
        model = DalleTransformer(cfg).eval()
    return model, text, source


def time_cached(sampler: Sampler, prompt, n: int, cond: float) -> float:
    t = time.perf_counter()
    sampler.sample(prompt, n=n, seed=0, top_k=64, cond_scale=cond)
    return time.perf_counter() - t


def time_uncached(sampler: Sampler, prompt, n: int, cond: float, stride: int, full: bool) -> float:
    """Seconds for the no-cache sampler to make all image tokens (integrated over sampled steps)."""
    if full:
        t = time.perf_counter()
        sampler.sample(prompt, n=n, seed=0, top_k=64, cond_scale=cond, use_cache=False)
        return time.perf_counter() - t
    cfg = sampler.cfg
    text = sampler._text(prompt).expand(n * (2 if cond != 1.0 else 1), -1)
    positions = list(range(0, cfg.image_len, stride)) + [cfg.image_len - 1]
    times = {}
    with torch.no_grad():
        for j in positions:
            image = torch.randint(0, cfg.image_vocab, (text.shape[0], j))
            t = time.perf_counter()
            sampler._next_logits(text, image, None, True)
            times[j] = time.perf_counter() - t
    total = 0.0
    for a, b in zip(positions[:-1], positions[1:]):  # trapezoid over the steps in between
        total += (times[a] + times[b]) / 2 * (b - a)
    return total + times[positions[-1]]


ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venvs" / "dalle_pytorch"
DALLE_PYTORCH_PACKAGES = [
    "dalle-pytorch", "DALL-E", "taming-transformers-rom1504", "einops", "axial-positional-embedding",
    "rotary-embedding-torch", "ftfy", "regex", "tokenizers", "requests", "urllib3", "certifi",
    "charset-normalizer", "idna", "omegaconf", "antlr4-python3-runtime==4.9.3", "PyYAML",
    "pytorch_lightning<1.9", "lightning-utilities", "torchmetrics", "tensorboardX", "protobuf",
    "setuptools<70",
]
# youtokentome's setup.py imports Cython without declaring it, so pip's isolated build fails
# ("No module named 'Cython'"): it is built against the venv's own Cython instead.
YTTM_BUILD = ["Cython", "wheel"]
RUNNER = r"""
import json, sys, time, torch
from dalle_pytorch import DALLE, DiscreteVAE
a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"]); torch.manual_seed(0)
vae = DiscreteVAE(image_size=a["image_size"], num_layers=a["vae_layers"], num_tokens=a["image_vocab"],
                  codebook_dim=64, hidden_dim=32)
dalle = DALLE(dim=a["dim"], vae=vae, num_text_tokens=a["text_vocab"], text_seq_len=a["text_len"],
              depth=a["depth"], heads=a["heads"], dim_head=a["dim"] // a["heads"]).eval()
params = sum(p.numel() for p in dalle.transformer.parameters())
text = torch.randint(1, a["text_vocab"], (a["n"], a["text_len"]))
out = {"params_transformer": params}
with torch.no_grad():
    dalle.generate_images(text[:2], filter_thres=0.9, use_cache=True)  # warm up
    for cond in (1.0, 2.0):
        t = time.perf_counter()
        dalle.generate_images(text, filter_thres=0.9, cond_scale=cond, use_cache=True)
        out[str(cond)] = time.perf_counter() - t
print(json.dumps(out))
"""


def ensure_venv() -> Path:
    """bench/.venvs/dalle_pytorch with dalle-pytorch installed (--no-deps) over the project's torch."""
    py = VENV / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import dalle_pytorch"], capture_output=True).returncode == 0:
        return py
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    site = subprocess.run([str(py), "-c", "import site; print(site.getsitepackages()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    import torch as _t
    (Path(site) / "zz_project_torch.pth").write_text(str(Path(_t.__file__).parent.parent) + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", *DALLE_PYTORCH_PACKAGES, *YTTM_BUILD], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "youtokentome"], check=True)
    return py


def time_dalle_pytorch(cfg, n: int, threads: int) -> dict:
    """Seconds for dalle-pytorch to generate n images (unguided, guided) at the same size."""
    py = ensure_venv()
    grid_layers = {8: 2, 16: 1}[cfg.image_grid]  # DiscreteVAE halves the side per layer, from 32 px
    args = {"image_size": 32, "vae_layers": grid_layers, "image_vocab": cfg.image_vocab,
            "text_vocab": cfg.text_vocab, "text_len": cfg.text_len, "dim": cfg.n_embd,
            "depth": cfg.n_layer, "heads": cfg.n_head, "n": n, "threads": threads}
    res = subprocess.run([str(py), "-c", RUNNER, json.dumps(args)], capture_output=True, text=True,
                         cwd=str(ROOT / "bench"))
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="N=16 and a coarser no-cache stride")
    p.add_argument("--full", action="store_true", help="time the no-cache sampler on every step")
    p.add_argument("--grid", type=int, default=16, help="image grid side (16 = 256 image tokens)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--no-compare", action="store_true", help="skip dalle-pytorch")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    n = a.n or (16 if a.quick else 64)
    stride = 64 if a.quick else 32
    model, text, source = build(a.grid)
    sampler = Sampler(model, text)
    cfg = model.cfg
    prompt = "a red circle to the left of a blue square" if text is not None else \
        torch.tensor([1] + [5] * 6 + [2] + [0] * (cfg.text_len - 8))
    sampler.sample(prompt, n=2, seed=0)  # warm up
    rows = []
    for cond in (1.0, 2.0):
        cached = time_cached(sampler, prompt, n, cond)
        uncached = time_uncached(sampler, prompt, n, cond, stride, a.full)
        tokens = n * cfg.image_len
        rows.append({"cond_scale": cond, "cached_s": cached, "uncached_s": uncached,
                     "tokens_per_s": tokens / cached, "uncached_tokens_per_s": tokens / uncached,
                     "speedup": uncached / cached})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    vs = None
    if not a.no_compare:
        try:
            theirs = time_dalle_pytorch(cfg, n, torch.get_num_threads())
            vs = {"unguided": theirs["1.0"] / rows[0]["cached_s"], "guided": theirs["2.0"] / rows[1]["cached_s"],
                  "dalle_pytorch_tokens_per_s": n * cfg.image_len / theirs["1.0"],
                  "dalle_pytorch_tokens_per_s_guided": n * cfg.image_len / theirs["2.0"],
                  "dalle_pytorch_params": theirs["params_transformer"]}
        except Exception as e:  # noqa: BLE001 - report, keep our numbers
            print(f"dalle-pytorch comparison failed: {e}")
    print(f"model: {model.num_params() / 1e6:.2f}M parameters, {cfg.n_layer} layers x {cfg.n_embd}, "
          f"{cfg.image_len} image tokens after {cfg.text_len} text tokens ({source})")
    print(f"batch N={n}, top_k=64, {torch.get_num_threads()} threads, no-cache "
          f"{'timed on every step' if a.full else f'integrated from every {stride}th step'}")
    print(f"{'cond_scale':>10} {'cached tok/s':>13} {'no-cache tok/s':>15} {'speedup':>8} {'cached s':>9}")
    for r in rows:
        print(f"{r['cond_scale']:>10} {r['tokens_per_s']:>13.0f} {r['uncached_tokens_per_s']:>15.1f} "
              f"{r['speedup']:>7.1f}x {r['cached_s']:>9.2f}")
    print(f"peak resident memory {peak_mb:.0f} MB")
    if vs:
        print(f"dalle-pytorch (generate_images, use_cache=True, {vs['dalle_pytorch_params'] / 1e6:.2f}M "
              f"transformer params): {vs['dalle_pytorch_tokens_per_s']:.0f} tok/s unguided, "
              f"{vs['dalle_pytorch_tokens_per_s_guided']:.0f} guided -> Atelier {vs['unguided']:.1f}x / "
              f"{vs['guided']:.1f}x faster")
    print(json.dumps({"cache_speedup": round(rows[0]["speedup"], 1),
                      "cache_speedup_guided": round(rows[1]["speedup"], 1),
                      "tokens_per_s": round(rows[0]["tokens_per_s"], 1),
                      "tokens_per_s_guided": round(rows[1]["tokens_per_s"], 1),
                      "uncached_tokens_per_s": round(rows[0]["uncached_tokens_per_s"], 2),
                      "vs_dalle_pytorch": None if not vs else {k: round(v, 2) for k, v in vs.items()}, "n": n, "image_tokens": cfg.image_len,
                      "params": model.num_params(), "threads": torch.get_num_threads(),
                      "peak_rss_mb": round(peak_mb), "uncached_timing": "full" if a.full else f"stride {stride}",
                      "weights": source}))


if __name__ == "__main__":
    main()
