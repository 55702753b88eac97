"""``python -m ml_core.eval <subcommand> [options]``: one module per subcommand, each with ``main(argv)``."""
from ml_core.cli import subcommand_main

SUBCOMMANDS = {"clip": "ml_core.eval.clip", "dalle": "ml_core.eval.dalle", "tagging": "ml_core.eval.tagging"}
main = subcommand_main("python -m ml_core.eval", SUBCOMMANDS, __name__)
