"""``python -m ml_core.train clip``: train the offline demo CLIP on the synthetic world.

Architecture: ``ml_core/model_configs/atelier-demo-clip.json`` (an open_clip config; see
docs/ml/demo_clip.md). Batches are groups of near-identical scenes (``clip_data``), so the
contrastive loss can only be lowered by seeing shape, position, relation order and colour binding.
The loss is CLIP's symmetric cross-entropy, except that a caption that is also true of another
image in the batch ("a red shape") is not counted as that image's negative.

Output (``--out``, default ``ml_core/weights/demo_clip``): ``open_clip_config.json`` +
``open_clip_model.safetensors`` (fp16), the layout the registry's ``demo`` spec loads, and
``training.json`` (seed, steps, time, final loss, evaluation). Checkpoints (weights and optimizer
state, every ``--checkpoint-every`` steps) go to ``--checkpoint-dir`` (under the git-ignored
``var/``); ``--resume`` continues from them.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.tokenizer import SimpleTokenizer
from open_clip.transformer import text_global_pool
from torch import nn
from tqdm import tqdm

from ml_core.clip import ClipEngine, ModelSpec, TextEmbeddingCache, save_pretrained
from ml_core.clip.loading import LoadedModel, input_size, val_transform
from ml_core.clip.registry import CONFIG_DIR, DEMO_ARCH, DEFAULT_DEMO_DIR, register_atelier_configs
from ml_core.clip.weights import WeightsSource
from ml_core.synth.oracle import HEADS, LAYOUTS, scene_targets
from ml_core.synth.vocab import COLOUR_NAMES, SHAPE_NAMES, article

from .clip_data import clip_batch, to_model_input
from .trainer import Trainer, TrainerConfig, atomic_save

DEFAULT_CHECKPOINT_DIR = Path("var/train/demo_clip")
INIT_LOGIT_SCALE = 20.0
MAX_LOGIT_SCALE = 100.0


@dataclass
class ClipRecipe:
    """What the batches look like (the optimisation settings live in TrainerConfig)."""

    groups: int = 22  # anchors per batch
    group_size: int = 6  # anchor + one-factor variants
    partial: float = 0.35  # share of single-scene captions that name only some facts
    image_size: int = 64
    attribute_weight: float = 1.0  # weight of the attribute heads' loss on the image embedding (0: off)
    invariance_weight: float = 0.0  # weight of the colour/shape score invariance loss (0: off)
    prior_weight: float = 0.0  # weight of the no-prior loss on a factored tower's parts (0: off)
    # A DALL·E weights folder: every picture goes through its image tokenizer (encode, decode,
    # 8-bit) first, so the CLIP learns to read the decoder's pictures -- what it reranks.
    through_tokenizer: str | None = None


def demo_model_cfg() -> dict:
    return json.loads((CONFIG_DIR / f"{DEMO_ARCH}.json").read_text())


def build_model(model_cfg: dict, seed: int) -> torch.nn.Module:
    """A freshly initialised open_clip CLIP for ``model_cfg`` (seeded), logit scale at 20."""
    register_atelier_configs()
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    # open_clip.create_model sets the preprocess config; building directly needs it set here.
    size = model_cfg["vision_cfg"]["image_size"]
    model.visual.preprocess_cfg = {"size": size, "mode": "RGB", "mean": open_clip.OPENAI_DATASET_MEAN,
                                   "std": open_clip.OPENAI_DATASET_STD, "interpolation": "bicubic",
                                   "resize_mode": "shortest", "fill_color": 0}
    with torch.no_grad():
        model.logit_scale.fill_(math.log(INIT_LOGIT_SCALE))
    return model


class ClipBatches:
    """Picklable ``make_batch(step)`` -> (images float (B,3,S,S), tokens (T, ctx), match bool (B, T),
    attribute targets long (B, len(HEADS)): the world's ground truth, -100 where not applicable)."""

    def __init__(self, seed: int, recipe: ClipRecipe, context_length: int, mean, std):
        self.seed, self.recipe, self.context_length = seed, recipe, context_length
        self.mean, self.std = tuple(mean), tuple(std)
        self._tokenizer = self._vq = None

    def __call__(self, step: int):
        if self._tokenizer is None:
            self._tokenizer = SimpleTokenizer(context_length=self.context_length)
        r = self.recipe
        b = clip_batch(self.seed, step, r.groups, r.group_size, r.image_size, r.partial)
        images = b.images
        if r.through_tokenizer:
            if self._vq is None:   # loaded in the batch-building process, once
                from ml_core.dalle import load_dalle
                self._vq = load_dalle(r.through_tokenizer).vq
            images = through_tokenizer(images, self._vq)
        return (to_model_input(images, self.mean, self.std), self._tokenizer(b.texts),
                torch.from_numpy(b.match), torch.tensor([scene_targets(s) for s in b.scenes]))


def through_tokenizer(images: np.ndarray, vq) -> np.ndarray:
    """uint8 (B, S, S, 3) -> the same pictures encoded to image tokens and decoded by ``vq`` (a
    DALL·E image tokenizer), as 8-bit pictures: what the generator's decoder draws for them."""
    size = images.shape[1]
    if vq.cfg.image_size != size or vq.cfg.out_size != size:
        raise ValueError(f"the image tokenizer works on {vq.cfg.image_size} px pictures and paints "
                         f"{vq.cfg.out_size} px; the CLIP batches are {size} px")
    decoded = vq.decode(vq.encode(torch.from_numpy(images).permute(0, 3, 1, 2)))   # encode takes uint8
    return (decoded * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def load_clip_weights(model: nn.Module, folder: str | Path) -> None:
    """Start from the CLIP saved in ``folder`` (``save_pretrained``'s layout, same architecture)."""
    from ml_core.clip.weights import SAFETENSORS_NAME, find_weights_in_dir

    weights = find_weights_in_dir(folder) if Path(folder).is_dir() else None
    if weights is None:
        raise FileNotFoundError(f"--init {folder}: no {SAFETENSORS_NAME} (or other CLIP weights) there "
                                "(a folder `python -m ml_core.train clip` wrote)")
    open_clip.load_checkpoint(model, str(weights), strict=True, weights_only=True)


class ClipWithHeads(nn.Module):
    """Training wrapper: the CLIP (``clip``, the only part saved) and one linear head per attribute
    of the world (the oracle's HEADS: layout, colour/shape of the first and second object, count,
    position, size) reading the unit image embedding. The heads' cross-entropy, weighted by
    ``weight``, pushes those attributes into the embedding from the first steps, where the
    contrastive loss alone learns colour, count and position but not shape (docs/ml/demo_clip.md)."""

    def __init__(self, clip: nn.Module, embed_dim: int, weight: float, invariance: float = 0.0,
                 context_length: int = 32, prior: float = 0.0):
        super().__init__()
        self.clip, self.weight, self.invariance, self.prior = clip, weight, invariance, prior
        self.sizes = [len(v) for v in HEADS.values()]
        self.heads = nn.Linear(embed_dim, sum(self.sizes))
        tok = SimpleTokenizer(context_length=context_length)
        self.register_buffer("colour_prompts", tok(COLOUR_PROMPTS), persistent=False)
        self.register_buffer("shape_prompts", tok(SHAPE_PROMPTS), persistent=False)

    def class_texts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit colour-class (8, D) and shape-class (8, D) text embeddings (mean of the prompts)."""
        out = []
        for prompts, per_class in ((self.colour_prompts, len(COLOUR_PROMPT_NOUNS)),
                                   (self.shape_prompts, len(SHAPE_PROMPT_TEMPLATES))):
            emb = encode_text_trimmed(self.clip, prompts)
            out.append(F.normalize(emb.view(-1, per_class, emb.shape[1]).mean(1), dim=-1))
        return out[0], out[1]

    def prior_loss(self, colour_blind: torch.Tensor, shape_blind: torch.Tensor, scale, texts=None) -> torch.Tensor:
        """The part of the embedding that cannot see colour must not prefer any colour class, and
        the part that cannot see shape no shape class: the variance over classes of each part's
        logits. Whatever preference such a part has is a co-occurrence prior of the training
        split ("triangles are never purple": measured, it is what broke held-out colour; docs)."""
        colours, shapes = texts if texts is not None else self.class_texts()
        norm = (colour_blind + shape_blind).norm(dim=1, keepdim=True).clamp(min=1e-6)
        return ((scale * (colour_blind / norm) @ colours.T).var(dim=1).mean()
                + (scale * (shape_blind / norm) @ shapes.T).var(dim=1).mean())

    def invariance_loss(self, img: torch.Tensor, targets: torch.Tensor, scale, texts=None) -> torch.Tensor:
        """Single scenes of one colour must get the same colour-prompt distribution whatever
        their shape, and scenes of one shape the same shape-prompt distribution whatever their
        colour. Without it the model learns the split's statistic "triangles are never purple"
        (the held-out pairs never occur) and reads held-out pairs' colour wrong (docs)."""
        single = targets[:, 0] == LAYOUTS.index("single")
        loss = img.new_zeros(())
        for classes, column in zip(texts if texts is not None else self.class_texts(), (1, 2)):
            logp = F.log_softmax(scale * img[single] @ classes.T, dim=1)
            loss = loss + grouped_variance(logp, targets[single, column], classes.shape[0])
        return loss

    def attribute_loss(self, img: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """img (B, D) unit rows, targets (B, len(HEADS)) -> mean cross-entropy over the heads."""
        logits = self.heads(img).split(self.sizes, dim=1)
        # A head with no applicable target in the batch (no pairs: colour2) would give NaN.
        terms = [F.cross_entropy(lg, targets[:, k], ignore_index=-100)
                 for k, lg in enumerate(logits) if bool((targets[:, k] != -100).any())]
        return sum(terms) / len(logits)


COLOUR_PROMPT_NOUNS = ("shape", "object", "thing", "figure")
SHAPE_PROMPT_TEMPLATES = ("{a} {s}", "a photo of {a} {s}")
COLOUR_PROMPTS = [f"a {c} {n}" for c in COLOUR_NAMES for n in COLOUR_PROMPT_NOUNS]
SHAPE_PROMPTS = [t.format(a=article(s), s=s) for s in SHAPE_NAMES for t in SHAPE_PROMPT_TEMPLATES]


def grouped_variance(rows: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Mean squared distance of each row (N, K) to the mean row of its label's group (labels in
    0..n_classes-1); a group of one contributes 0."""
    if rows.shape[0] == 0:
        return rows.new_zeros(())
    onehot = F.one_hot(labels, n_classes).to(rows.dtype)  # (N, C)
    means = (onehot.T @ rows) / onehot.sum(0).clamp(min=1).unsqueeze(1)  # (C, K)
    return (rows - means[labels]).pow(2).sum(1).mean()


def contrastive_loss(img: torch.Tensor, txt: torch.Tensor, match: torch.Tensor, scale) -> torch.Tensor:
    """Symmetric InfoNCE; img (B, D) and txt (T >= B, D) unit rows, caption i belongs to image i,
    texts B.. are extra negatives (image->text only); other true pairs (match) are left out."""
    n = img.shape[0]
    logits = scale * img @ txt.T  # (B, T)
    other = match.clone()
    other[torch.arange(n), torch.arange(n)] = False
    logits = logits.masked_fill(other, float("-inf"))
    target = torch.arange(n, device=img.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits[:, :n].T, target)) / 2


def encode_text_trimmed(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text(tokens, normalize=True)`` computed on the first L positions only, L the
    longest caption: the text tower is causal and pools the end-of-text token, so the padding
    after it cannot change the result (tested against open_clip), but it costs half the time."""
    length = int((tokens != 0).sum(1).max())
    tokens = tokens[:, :length]
    x = model.token_embedding(tokens) + model.positional_embedding[:length]
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = text_global_pool(x, tokens, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
    return F.normalize(x @ model.text_projection, dim=-1)


def clip_loss(model: torch.nn.Module, batch) -> torch.Tensor:
    """Contrastive loss of a CLIP, plus the attribute heads' loss when ``model`` is a ClipWithHeads."""
    clip = getattr(model, "clip", model)
    device = clip.logit_scale.device
    images, tokens, match, *targets = (t.to(device, non_blocking=True) for t in batch)
    prior = getattr(model, "prior", 0.0)
    if prior:  # the factored tower's two parts, summed exactly as encode_image does
        colour_blind, shape_blind = clip.visual.trunk.parts(images)
        img = F.normalize(clip.visual.head(colour_blind + shape_blind), dim=-1)
    else:
        img = clip.encode_image(images, normalize=True)
    txt = encode_text_trimmed(clip, tokens)
    scale = clip.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
    loss = contrastive_loss(img, txt, match, scale)
    if clip is not model and targets and model.weight:
        loss = loss + model.weight * model.attribute_loss(img, targets[0])
    invariance = getattr(model, "invariance", 0.0) if targets else 0.0
    texts = model.class_texts() if invariance or prior else None  # encoded once per step
    if invariance:
        loss = loss + invariance * model.invariance_loss(img, targets[0], scale, texts)
    if prior:
        loss = loss + prior * model.prior_loss(colour_blind, shape_blind, scale, texts)
    return loss


def engine_for(model: torch.nn.Module, model_cfg: dict, device: torch.device, name: str = "training") -> ClipEngine:
    """A ``ClipEngine`` around an in-memory model (for evaluations during/after training)."""
    spec = ModelSpec("random", arch=name)
    loaded = LoadedModel(model=model, preprocess=val_transform(model),
                         tokenizer=SimpleTokenizer(context_length=model_cfg["text_cfg"]["context_length"]),
                         model_id=f"{name}:{id(model)}", spec=spec,
                         source=WeightsSource(spec, name, None, name, name),
                         embed_dim=int(model_cfg["embed_dim"]), image_size=input_size(model))
    return ClipEngine(loaded, device=device, batch_size=256, decode_workers=1, cache=TextEmbeddingCache())


def probe(model: torch.nn.Module, model_cfg: dict, device: torch.device, **sizes) -> dict:
    """A quick held-out evaluation of the model being trained (then back to training mode)."""
    from ml_core.eval.clip import QUICK, evaluate

    was_training = model.training
    model.eval()
    try:
        return evaluate(engine_for(model, model_cfg, device), **(sizes or QUICK))
    finally:
        model.train(was_training)


def summary(result: dict) -> str:
    z, h = result["zeroshot"], result["heldout_combo"]
    return (" ".join(f"{k}={z[k]:.2f}/{h[k]:.2f}" for k in z)
            + f" R@10={result['retrieval']['r10']:.2f} rel={result['relation']:.2f} bind={result['binding']:.2f}")


def train_clip(*, out: str | Path | None = None, model_cfg: dict | None = None, seed: int = 0,
               steps: int = 600, recipe: ClipRecipe = ClipRecipe(), lr: float = 2e-3, warmup: int = 60,
               checkpoint_dir: str | Path | None = DEFAULT_CHECKPOINT_DIR, checkpoint_every: int = 200,
               resume: bool = False, probe_every: int = 0, num_workers: int = 1, threads: int = 2,
               device: str | None = None, progress: bool = True, final_eval: bool = True,
               select_every: int = 0, init: str | Path | None = None, command: str | None = None) -> Trainer:
    """Train (or resume) a CLIP; with ``out``, save it there in the registry's layout. ``init``:
    start from the CLIP saved in that folder instead of a fresh one (fine-tuning). With
    ``select_every``, the weights saved are those of the step (a multiple of it, or the last)
    that scored best on the VALIDATION world (``ValidationSelector``), not the last step's."""
    model_cfg = model_cfg or demo_model_cfg()
    config = TrainerConfig(steps=steps, lr=lr, warmup=warmup, seed=seed, threads=threads,
                           checkpoint_every=checkpoint_every, num_workers=num_workers, device=device,
                           progress=progress)
    model = build_model(model_cfg, seed)
    if init is not None:
        load_clip_weights(model, init)
    pre = model.visual.preprocess_cfg
    batches = ClipBatches(seed, recipe, model_cfg["text_cfg"]["context_length"], pre["mean"], pre["std"])
    if recipe.attribute_weight or recipe.invariance_weight or recipe.prior_weight:
        model = ClipWithHeads(model, int(model_cfg["embed_dim"]), recipe.attribute_weight,
                              recipe.invariance_weight, model_cfg["text_cfg"]["context_length"],
                              recipe.prior_weight)
    trainer = Trainer(config, model, batches, clip_loss, checkpoint_dir=checkpoint_dir)
    if resume and not trainer.load_checkpoint():
        tqdm.write(f"no checkpoint in {checkpoint_dir}: starting from step 0")
    if probe_every:
        def _probe(t: Trainer) -> None:
            if t.step % probe_every == 0 or t.step == config.steps:
                clip = trained_clip(t)
                tqdm.write(f"step {t.step} ({t.elapsed / 60:.1f} min) loss {np.mean(t.losses[-20:]):.3f} "
                           f"scale {clip.logit_scale.exp().item():.1f} | {summary(probe(clip, model_cfg, t.device))}")
        trainer.add_callback("on_step_end", _probe)
    selector = None
    if select_every:
        selector = ValidationSelector(model_cfg, Path(checkpoint_dir) if checkpoint_dir else None, select_every)
        trainer.add_callback("on_step_end", selector)
    trainer.run()
    if selector is not None:
        selector.restore_best(trainer)
    if out is not None:
        save(trainer, model_cfg, recipe, Path(out), final_eval=final_eval,
             selection=selector.facts() if selector else None, init=init, command=command)
    return trainer


VALIDATION_SEED = 31_337  # a world used by neither training (--seed, 0) nor evaluation (EVAL_SEED)


def validation_score(result: dict) -> float:
    """The weakest of the metrics the evaluation has targets for, seen and held-out combos alike."""
    zs = [result[g][h] for g in ("zeroshot", "heldout_combo") for h in ("color", "shape", "count", "position")]
    return float(min(zs + [result["retrieval"]["r10"], result["relation"], result["binding"]]))


class ValidationSelector:
    """Early stopping by model selection: every ``every`` steps (and at the last) the CLIP is
    evaluated on the validation world (quick sizes) and kept when its ``validation_score`` is the
    best so far (``best.pt`` in the checkpoint folder, so a resumed run keeps its choice).
    Why: held-out colour swings between ~0.87 and ~0.98 from probe to probe once shape is learnt
    (docs/ml/demo_clip.md); the last step is not the best one, and choosing on the eval world
    itself would be fitting the test."""

    def __init__(self, model_cfg: dict, folder: Path | None, every: int):
        self.model_cfg, self.every = model_cfg, every
        self.path = folder / "best.pt" if folder else None
        self.best: dict | None = None
        if self.path and self.path.exists():
            self.best = torch.load(self.path, weights_only=False)

    def __call__(self, t: Trainer) -> None:
        if t.step % self.every and t.step != t.config.steps:
            return
        from ml_core.eval.clip import QUICK
        clip = trained_clip(t)
        result = probe(clip, self.model_cfg, t.device, **QUICK, seed=VALIDATION_SEED)
        score = validation_score(result)
        tqdm.write(f"validation step {t.step}: score {score:.3f} | {summary(result)}")
        if self.best is None or score > self.best["score"]:
            self.best = {"step": t.step, "score": score, "result": result,
                         "state": {k: v.detach().clone() for k, v in clip.state_dict().items()}}
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                atomic_save(self.best, self.path)

    def restore_best(self, t: Trainer) -> None:
        if self.best is not None:
            trained_clip(t).load_state_dict(self.best["state"])

    def facts(self) -> dict | None:
        if self.best is None:
            return None
        return {"selected_step": self.best["step"], "validation_seed": VALIDATION_SEED,
                "validation_score": round(self.best["score"], 4), "validation": self.best["result"]}


def trained_clip(trainer: Trainer) -> nn.Module:
    """The CLIP being trained (without the attribute heads, which are not saved)."""
    return getattr(trainer.model, "clip", trainer.model)


def save(trainer: Trainer, model_cfg: dict, recipe: ClipRecipe, out: Path, *, final_eval: bool = True,
         selection: dict | None = None, init: str | Path | None = None, command: str | None = None) -> Path:
    """fp16 weights + open_clip_config.json + training.json into ``out``."""
    model = trained_clip(trainer).eval()
    half = build_model(model_cfg, 0)
    half.load_state_dict(model.state_dict())
    weights = save_pretrained(half.half(), out, model_cfg=model_cfg)
    facts = {
        "command": command or "python -m ml_core.train clip", "seed": trainer.config.seed, "steps": trainer.step,
        "init": str(init) if init is not None else None,
        "trainer": asdict(trainer.config), "recipe": asdict(recipe),
        "train_seconds": round(trainer.elapsed, 1), "final_loss": round(float(np.mean(trainer.losses[-20:])), 4),
        "logit_scale": round(float(model.logit_scale.detach().exp()), 2),
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_bytes": weights.stat().st_size, "torch": torch.__version__, "open_clip": open_clip.__version__,
        "selection": selection,
        "device": str(trainer.device), "machine": platform.machine(),
        "loss_every_50": [round(float(np.mean(trainer.losses[i:i + 50])), 4) for i in range(0, len(trainer.losses), 50)],
    }
    if final_eval:
        from ml_core.clip import create_engine
        from ml_core.eval.clip import FULL, evaluate

        facts["eval"] = evaluate(create_engine(f"file:{out}", device=trainer.device), **FULL)
        tqdm.write("final eval: " + summary(facts["eval"]))
    (out / "training.json").write_text(json.dumps(facts, indent=2) + "\n")
    return weights


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_core.train clip", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_DEMO_DIR.relative_to(Path.cwd()) if DEFAULT_DEMO_DIR.is_relative_to(Path.cwd()) else DEFAULT_DEMO_DIR))
    parser.add_argument("--seed", type=int, default=0)
    # Defaults = the shipped recipe (docs/ml/demo_clip.md): `python -m ml_core.train clip --threads 1`
    # reproduces ml_core/weights/demo_clip.
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--groups", type=int, default=ClipRecipe.groups, help="anchor scenes per batch")
    parser.add_argument("--group-size", type=int, default=ClipRecipe.group_size)
    parser.add_argument("--attribute-weight", type=float, default=8.0,
                        help="weight of the attribute heads' loss on the image embedding (0: contrastive only)")
    parser.add_argument("--invariance-weight", type=float, default=ClipRecipe.invariance_weight,
                        help="weight of the loss that makes colour scores independent of shape and back (0: off)")
    parser.add_argument("--prior-weight", type=float, default=ClipRecipe.prior_weight,
                        help="weight of the loss keeping colour priors out of a factored tower's colour-blind part (0: off)")
    parser.add_argument("--select-every", type=int, default=150,
                        help="save the weights of the step (every N) that scores best on the validation world (0: the last)")
    parser.add_argument("--tower", default=None,
                        help="image tower (a name in ml_core/clip/tower.py TOWERS); default: the demo config's")
    parser.add_argument("--init", default=None,
                        help="fine-tune the CLIP saved in this folder (same architecture) instead of a fresh one")
    parser.add_argument("--through-tokenizer", default=None, metavar="DALLE_DIR",
                        help="show the CLIP every picture after a round trip through this DALL·E folder's image "
                             "tokenizer (the generator's reranker: docs/ml/dalle.md)")
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--checkpoint-dir", default=str(DEFAULT_CHECKPOINT_DIR))
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
    parser.add_argument("--probe-every", type=int, default=0,
                        help="quick evaluation on the EVAL world every N steps, to watch (0: off)")
    parser.add_argument("--device", default=None, help="default: CUDA when present, else CPU")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-eval", action="store_true", help="skip the final full evaluation")
    args = parser.parse_args(argv)
    recipe = ClipRecipe(groups=args.groups, group_size=args.group_size, attribute_weight=args.attribute_weight,
                        invariance_weight=args.invariance_weight, prior_weight=args.prior_weight,
                        through_tokenizer=args.through_tokenizer)
    model_cfg = demo_model_cfg()
    if args.tower:
        from ml_core.clip.tower import TOWERS
        if args.tower not in TOWERS:
            parser.error(f"--tower must be one of {', '.join(TOWERS)}, got {args.tower!r}")
        model_cfg["vision_cfg"]["timm_model_name"] = args.tower
    start = time.time()
    train_clip(out=args.out, model_cfg=model_cfg, seed=args.seed, steps=args.steps, recipe=recipe, lr=args.lr,
               checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
               resume=args.resume, probe_every=args.probe_every, device=args.device,
               threads=args.threads, final_eval=not args.no_eval, select_every=args.select_every,
               init=args.init, warmup=args.warmup,
               command=" ".join(["python -m ml_core.train clip", *(argv if argv is not None else sys.argv[2:])]))
    print(f"saved {args.out} in {(time.time() - start) / 60:.1f} min")
    return 0
