"""Sign-in hardening: failed sign-ins locked out per account and per address (django-axes) on the
web login and the token endpoint, the token endpoint rate-limited, expiring tokens that logout and
revoke end, password validators on every password set."""
from datetime import timedelta

import pytest
from django.contrib.auth.backends import ModelBackend
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from tests.helpers import api_for

pytestmark = pytest.mark.django_db
LIMIT = 5  # ATELIER_LOGIN_FAILURE_LIMIT's default


def token_for(username, password, address="10.0.0.1"):
    return APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json",
                            REMOTE_ADDR=address)


@pytest.fixture
def password_checks(monkeypatch):
    """Counts real password checks (the ~0.5 s of CPU a locked-out try must not cost)."""
    calls = []
    original = ModelBackend.authenticate
    monkeypatch.setattr(ModelBackend, "authenticate", lambda self, *a, **kw: calls.append(1) or original(self, *a, **kw))
    return calls


def test_token_endpoint_locks_an_account_out_after_failures(owner, password_checks):
    answers = [token_for("olga", f"wrong-{i}", address=f"10.0.0.{i}").status_code for i in range(LIMIT)]
    assert answers[:-1] == [400] * (LIMIT - 1) and answers[-1] == 429
    checked = len(password_checks)
    locked = token_for("olga", "pw", address="10.9.9.9")  # the right password, from anywhere
    assert locked.status_code == 429 and "try again in 15 minutes" in locked.json()["error"]
    assert int(locked["Retry-After"]) == 15 * 60
    assert len(password_checks) == checked, "a locked-out try checks no password"


def test_token_endpoint_locks_an_address_out_whatever_the_usernames(make_user):
    make_user("vera")
    for i in range(LIMIT):
        token_for(f"nobody-{i}", "guess", address="10.6.6.6")
    assert token_for("vera", "pw", address="10.6.6.6").status_code == 429
    assert token_for("vera", "pw", address="10.7.7.7").status_code == 200


def test_a_success_resets_the_count(owner):
    for _ in range(LIMIT - 1):
        token_for("olga", "wrong")
    assert token_for("olga", "pw").status_code == 200
    assert token_for("olga", "wrong").status_code == 400


def test_web_login_is_locked_out_too(owner):
    client = Client(REMOTE_ADDR="10.1.1.1")
    for _ in range(LIMIT):
        client.post("/login/", {"username": "olga", "password": "wrong"})
    page = client.post("/login/", {"username": "olga", "password": "pw"})
    assert page.status_code == 429 and b"Too many failed sign-ins" in page.content
    assert "_auth_user_id" not in client.session
    assert token_for("olga", "pw", address="10.2.2.2").status_code == 429, "one count for web and API"


def test_addresses_behind_a_trusted_proxy(owner, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for i in range(LIMIT):
        APIClient().post("/api/auth/token/", {"username": f"nobody-{i}", "password": "x"}, format="json",
                         REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="203.0.113.5")
    behind_same_proxy = dict(REMOTE_ADDR="10.0.0.254", format="json")
    assert APIClient().post("/api/auth/token/", {"username": "olga", "password": "pw"},
                            HTTP_X_FORWARDED_FOR="203.0.113.5", **behind_same_proxy).status_code == 429
    assert APIClient().post("/api/auth/token/", {"username": "olga", "password": "pw"},
                            HTTP_X_FORWARDED_FOR="198.51.100.7", **behind_same_proxy).status_code == 200


def test_token_endpoint_is_rate_limited_per_address(owner, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/minute"})
    assert [token_for("olga", "pw").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert token_for("olga", "pw", address="10.3.3.3").status_code == 200


# -- tokens -----------------------------------------------------------------------------------------
def authed(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_tokens_expire(owner):
    body = token_for("olga", "pw").json()
    expiry = AuthToken.objects.get().expiry
    assert timedelta(hours=23) < expiry - timezone.now() <= timedelta(hours=24)
    assert authed(body["token"]).get("/api/collections/").status_code == 200
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    assert authed(body["token"]).get("/api/collections/").status_code == 401


def test_logout_ends_the_token_and_revoke_ends_them_all(owner):
    first, second, third = (token_for("olga", "pw").json()["token"] for _ in range(3))
    assert authed(first).post("/api/auth/logout/").status_code == 204
    assert authed(first).get("/api/collections/").status_code == 401
    assert authed(second).get("/api/collections/").status_code == 200
    assert authed(second).post("/api/auth/revoke/").json() == {"revoked": 2}
    assert authed(second).get("/api/collections/").status_code == 401
    assert authed(third).get("/api/collections/").status_code == 401
    assert api_for(owner).post("/api/auth/revoke/").json() == {"revoked": 0}  # from a web session too


def test_only_hashes_of_tokens_are_stored(owner):
    token = token_for("olga", "pw").json()["token"]
    stored = AuthToken.objects.get()
    assert token not in (stored.digest, stored.token_key) and token.startswith(stored.token_key)


# -- passwords -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("password,reason", [
    ("short1", "too short"), ("password123", "too common"), ("4815162342", "entirely numeric"),
    ("newbie-newbie", "too similar to the username"),
])
def test_api_user_creation_applies_the_password_validators(make_user, password, reason):
    staff = make_user("root", staff=True)
    res = api_for(staff).post("/api/users/", {"username": "newbie-newbie", "password": password}, format="json")
    assert res.status_code == 400 and res.json()["error"].startswith("password:") and reason in res.json()["error"]
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="newbie-newbie").exists()


# -- the shared cache ---------------------------------------------------------------------------------
@pytest.mark.services
def test_lockouts_live_in_redis_shared_by_every_web_process(owner, settings):
    """Production's cache is Redis: a lockout counted by one process holds in another (here: a new
    cache connection and a new axes handler, as a second web process would have)."""
    import redis
    from axes.handlers.proxy import AxesProxyHandler

    from tests.platform.services import require_services

    url = require_services()
    import atelier.settings as configured  # as read from the environment, before the tests' override

    assert configured.CACHES["default"] == {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                            "LOCATION": url, "KEY_PREFIX": "atelier-cache"}
    prefix = f"test-axes-{owner.pk}-{id(settings)}"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                                   "KEY_PREFIX": prefix}}
    AxesProxyHandler.get_implementation(force=True)
    store = redis.Redis.from_url(url)
    try:
        for _ in range(LIMIT):
            token_for("olga", "wrong", address="10.4.4.4")
        assert store.keys(f"{prefix}:*"), "the failures are counted in Redis"
        settings.CACHES = {"default": {**settings.CACHES["default"]}}  # a fresh connection handler
        AxesProxyHandler.get_implementation(force=True)
        assert token_for("olga", "pw", address="10.5.5.5").status_code == 429
    finally:
        for key in store.keys(f"{prefix}:*"):
            store.delete(key)
