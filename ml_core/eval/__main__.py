"""``python -m ml_core.eval <subcommand> [options]``: one module per subcommand, each with ``main(argv)``."""
from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, str] = {
    "clip": "ml_core.eval.clip",
    "dalle": "ml_core.eval.dalle",
    "tagging": "ml_core.eval.tagging",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in SUBCOMMANDS:
        print(f"usage: python -m ml_core.eval {{{','.join(SUBCOMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
