"""``python -m ml_core.train <subcommand> [options]``: one module per subcommand, each with ``main(argv)``."""
from ml_core.cli import subcommand_main

SUBCOMMANDS = {"clip": "ml_core.train.clip", "dalle": "ml_core.train.dalle"}
main = subcommand_main("python -m ml_core.train", SUBCOMMANDS, __name__)
