"""The embedded mode's SECRET_KEY: made once per installation and kept under var/ (never a key
shipped in the source, which anyone could use to forge sessions)."""
import os
import secrets
import time
from pathlib import Path

KEY_FILE = "secret_key"


def embedded_secret_key(var_dir: Path) -> str:
    path = Path(var_dir) / KEY_FILE
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(50)
    try:  # O_EXCL: two processes starting together agree on the first key written
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _wait_for_key(path)
    with os.fdopen(fd, "w") as out:
        out.write(candidate)
    return candidate


def _wait_for_key(path: Path) -> str:
    for _ in range(50):  # the other process is writing it now
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: delete it to make a new secret key")
