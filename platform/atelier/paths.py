"""Puts the repository root and `platform/` on sys.path for entry points started outside manage.py."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for _path in (REPO, REPO / "platform"):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))
