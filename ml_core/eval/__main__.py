"""``python -m ml_core.eval <subcommand> [options]``: one module per subcommand, each with ``main(argv)``."""
from __future__ import annotations

import sys

from ml_core.cli import dispatch

SUBCOMMANDS: dict[str, str] = {
    "clip": "ml_core.eval.clip",
    "dalle": "ml_core.eval.dalle",
    "tagging": "ml_core.eval.tagging",
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m ml_core.eval", SUBCOMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
