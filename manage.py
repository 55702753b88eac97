#!/usr/bin/env python
"""Django's command-line utility for Atelier."""
import os
import sys
from pathlib import Path

# `platform/` is a folder on sys.path (not a package: it would shadow the stdlib `platform`).
REPO = Path(__file__).resolve().parent
for path in (REPO, REPO / "platform"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atelier.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
