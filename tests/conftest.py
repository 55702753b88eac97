"""Shared fixtures. Real services (PostgreSQL, Redis, Celery worker processes, Chromium) are used
where a test is marked `services` or `browser`; with ATELIER_REQUIRE_SERVICES=1 (CI) a missing
service fails the run instead of skipping those tests."""
import os

import pytest

REQUIRE_SERVICES = os.environ.get("ATELIER_REQUIRE_SERVICES") == "1"


def missing_service(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Each test gets its own media root; tasks run inline at commit unless a test says otherwise."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TASKS_MODE = "inline"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users in tests
    return settings.MEDIA_ROOT
