"""What every ``python -m ml_core.<tool>`` entry point shares: the configuration from the environment
(the only place ml_core reads ``ATELIER_*`` variables) and subcommand dispatch."""
from __future__ import annotations

import functools
import importlib
import sys
from typing import Callable

from ml_core.config import configure_from_env


def dispatch(prog: str, subcommands: dict[str, str], argv: list[str] | None = None) -> int:
    """``prog <subcommand> [options]``: runs ``main(options)`` of the subcommand's module."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in subcommands:
        print(f"usage: {prog} {{{','.join(subcommands)}}} [options]", file=sys.stderr)
        return 2
    configure_from_env()
    return importlib.import_module(subcommands[argv[0]]).main(argv[1:]) or 0


def subcommand_main(prog: str, subcommands: dict[str, str], module_name: str) -> Callable[..., int]:
    """The ``main(argv=None)`` of the ``prog`` tool (``dispatch`` over ``subcommands``); it runs at
    once, and exits with its status, when ``module_name`` is ``"__main__"`` (the tool was started)."""
    main = functools.partial(dispatch, prog, subcommands)
    if module_name == "__main__":
        sys.exit(main())
    return main
