"""The `atelier` command: one entry point for operators, wrapping the management commands.

    atelier demo | migrate | import FOLDER | reembed | reindex | thumbnails --missing |
            backup DIR | restore DIR | check           (manage.py commands)
    atelier web [--host H] [--port P]                 (daphne, HTTP + websockets)
    atelier worker [celery worker options]            (default: -Q gpu,io)

Settings come from the environment as for manage.py (README's table).
"""
from __future__ import annotations

import os
import sys

# atelier subcommand -> Django management command
COMMANDS = {
    "demo": "demo", "migrate": "migrate", "import": "import_folder", "reembed": "reembed",
    "reindex": "reindex", "thumbnails": "thumbnails", "backup": "backup", "restore": "restore",
    "check": "check",
}
USAGE = __doc__.split("\n\n")[1]


def _django_setup() -> None:
    from atelier import paths  # noqa: F401  (a checkout's folders on sys.path)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atelier.settings")


def _manage(command: str, args: list[str]) -> int:
    from django.core.management import execute_from_command_line, get_commands

    import django

    django.setup()
    if command not in get_commands():
        print(f"atelier: this installation has no `{command}` command", file=sys.stderr)
        return 2
    execute_from_command_line(["atelier", command, *args])
    return 0


def _web(args: list[str]) -> int:
    from daphne.cli import CommandLineInterface

    if not any(a in ("-b", "--bind") for a in args):
        args = ["-b", "127.0.0.1", *args]
    if not any(a in ("-p", "--port") for a in args):
        args = ["-p", "8000", *args]
    CommandLineInterface().run([*args, "atelier.asgi:application"])
    return 0


def _worker(args: list[str]) -> int:
    from celery.bin.celery import main as celery_main

    if not any(a in ("-Q", "--queues") or a.startswith("--queues=") for a in args):
        args = ["-Q", "gpu,io", *args]
    sys.argv = ["celery", "-A", "atelier.celery_app", "worker", *args]
    return celery_main() or 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(f"usage:\n{USAGE}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    _django_setup()
    if name == "web":
        return _web(rest)
    if name == "worker":
        return _worker(rest)
    if name not in COMMANDS:
        print(f"atelier: unknown command {name!r}; one of: {', '.join([*COMMANDS, 'web', 'worker'])}", file=sys.stderr)
        return 2
    return _manage(COMMANDS[name], rest)


if __name__ == "__main__":
    sys.exit(main())
