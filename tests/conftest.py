"""Shared fixtures. Real services (PostgreSQL, Redis, Celery worker processes, Chromium) are used
where a test is marked `services` or `browser`; with ATELIER_REQUIRE_SERVICES=1 (CI) a missing
service fails the run instead of skipping those tests."""
import os
import uuid

import pytest
from django.contrib.auth import get_user_model

from tests.helpers import api_for

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


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Each test gets an empty local-memory cache (sign-in failures, throttles), never the Redis one:
    clearing that would flush the Celery queues sharing its database."""
    from axes.handlers.proxy import AxesProxyHandler

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"test-{uuid.uuid4().hex}"}}
    AxesProxyHandler.get_implementation(force=True)  # axes holds its cache: hand it the new one


@pytest.fixture
def make_user(db):
    def make(username: str, *, staff: bool = False, password: str = "pw"):
        return get_user_model().objects.create_user(username=username, password=password, is_staff=staff)

    return make


@pytest.fixture
def owner(make_user):
    return make_user("olga")


@pytest.fixture
def collection(owner):
    from atelier.library.models import Collection

    return Collection.objects.create(owner=owner, name="Holidays")


@pytest.fixture
def api(owner):
    return api_for(owner)


@pytest.fixture
def extra_plugin():
    """Registers a throwaway plugin object on the live manager for one test."""
    from atelier.pluginhost import manager

    registered = []

    def add(obj, name):
        manager.get_manager().register(obj, name=name)
        registered.append(name)

    yield add
    for name in registered:
        manager.get_manager().unregister(name=name)
