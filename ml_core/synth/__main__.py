"""Command line: `python -m ml_core.synth {export,train-oracle,eval-oracle,bench,vocab}`."""
from __future__ import annotations

import argparse
import json
import sys
import time


def _export(a) -> None:
    from .export import export
    path = export(a.dir, a.n, a.seed, a.size, a.split, a.format)
    print(f"wrote {a.n} images and {path}")


def _train(a) -> None:
    from .oracle_train import train_and_save
    report = train_and_save(a.out, a.seed, a.steps, a.batch_size, a.eval_n)
    print(json.dumps(report, indent=2))


def _eval(a) -> None:
    from .oracle import Oracle
    from .oracle_train import evaluate
    oracle = Oracle.load(a.weights)
    for kind in ("single", "pair"):
        print(kind, a.split, json.dumps(evaluate(oracle, a.seed, a.n, a.split, kind, a.size)))


def _bench(a) -> None:
    from .render import render_batch
    from .sampling import scene_at
    scenes = [scene_at(0, i) for i in range(a.n)]
    rows = {}
    for size in a.sizes:
        t = time.perf_counter()
        render_batch(scenes, size)
        rows[size] = a.n / (time.perf_counter() - t)
        print(f"{size:>5} px  {rows[size]:8.0f} images/s (1 process)")
    print(json.dumps({"render_images_per_s": rows}))


def _vocab(a) -> None:
    from .vocab import vocab_export
    print(json.dumps(vocab_export(), indent=2))


def _profile(a) -> None:
    from .profile import write_world_profile
    print(f"wrote {write_world_profile(a.dir)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ml_core.synth", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="render N images + captions.jsonl into DIR")
    e.add_argument("dir")
    e.add_argument("--n", type=int, required=True)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--size", type=int, default=256)
    e.add_argument("--split", choices=("train", "heldout", "all"), default="train")
    e.add_argument("--format", choices=("png", "jpg"), default="png")
    e.set_defaults(fn=_export)
    t = sub.add_parser("train-oracle", help="train the oracle CNN and save it with its config")
    t.add_argument("--out", default="ml_core/weights/oracle")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=1600)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--eval-n", type=int, default=2000)
    t.set_defaults(fn=_train)
    v = sub.add_parser("eval-oracle", help="per-head accuracy of saved oracle weights")
    v.add_argument("--weights", default="ml_core/weights/oracle")
    v.add_argument("--seed", type=int, default=12345)
    v.add_argument("--n", type=int, default=1000)
    v.add_argument("--size", type=int, default=None)
    v.add_argument("--split", choices=("train", "heldout", "all"), default="all")
    v.set_defaults(fn=_eval)
    b = sub.add_parser("bench", help="render speed")
    b.add_argument("--n", type=int, default=2000)
    b.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 224, 256])
    b.set_defaults(fn=_bench)
    sub.add_parser("vocab", help="print label vocab as JSON").set_defaults(fn=_vocab)
    f = sub.add_parser("profile", help="write the world's words and ranking into DIR's model profile")
    f.add_argument("dir")
    f.set_defaults(fn=_profile)
    a = p.parse_args(argv)
    a.fn(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
