import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_each_part(client, settings):
    settings.TASKS_MODE = "thread"
    res = client.get("/healthz")
    body = res.json()
    assert res.status_code == 200 and body["ok"] is True
    assert body["database"]["ok"] and body["channel_layer"]["ok"]
    assert body["broker"] == {"ok": True, "mode": "thread"}
    assert body["workers"]["workers"] == ["in-process"]


def test_healthz_says_503_when_broker_is_down(client, settings):
    settings.TASKS_MODE = "celery"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    res = client.get("/healthz")
    assert res.status_code == 503
    body = res.json()
    assert body["ok"] is False and body["broker"]["ok"] is False and "error" in body["broker"]
