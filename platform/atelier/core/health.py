"""`GET /healthz`: the state of the database, broker, channel layer and workers, as JSON."""
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "engine": connection.vendor}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)[:300]}


def check_broker() -> dict:
    if settings.TASKS_MODE != "celery":
        return {"ok": True, "mode": settings.TASKS_MODE}
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
        return {"ok": True, "mode": "celery", "url": _safe_url(settings.REDIS_URL)}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "mode": "celery", "error": str(exc)[:300]}


def check_channel_layer() -> dict:
    layer = get_channel_layer()
    name = type(layer).__name__ if layer else None
    try:
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.send)(channel, {"type": "health.ping"})
        received = async_to_sync(layer.receive)(channel)
        return {"ok": received.get("type") == "health.ping", "backend": name}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "backend": name, "error": str(exc)[:300]}


def check_workers() -> dict:
    if settings.TASKS_MODE != "celery":
        return {"ok": True, "mode": settings.TASKS_MODE, "workers": ["in-process"]}
    from atelier.celery_app import app

    try:
        replies = app.control.ping(timeout=1.0) or []
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)[:300], "workers": []}
    names = sorted(name for reply in replies for name in reply)
    return {"ok": bool(names), "workers": names}


def clip_model() -> dict:
    """Reported, not part of `ok`: the site works (without search) while a model is missing."""
    from atelier.embeddings.services import model_status

    status = model_status()
    return {"ready": status.ready, "spec": status.spec, "model_id": status.model_id, "message": status.message}


def check_search_index() -> dict:
    """The served index snapshot of the configured model; not ok while its last build failed."""
    from atelier.embeddings.services import model_status
    from atelier.search.indexing import index_status

    status = model_status()
    if not status.ready:
        return {"ok": True, "snapshot": None, "message": "no CLIP model ready"}
    try:
        report = index_status(status.model_id)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)[:300]}
    error = report["last_error"]
    failing = error is not None and (report["built_at"] or 0) < error["at"]
    keys = ("snapshot", "plan", "rows", "delta", "tombstones", "recall_at_10", "age_s")
    return {"ok": not failing, **{k: report[k] for k in keys}, "error": error["error"] if failing else None}


def health_report() -> dict:
    checks = {"database": check_database(), "broker": check_broker(), "channel_layer": check_channel_layer(),
              "workers": check_workers(), "search_index": check_search_index()}
    return {"ok": all(c["ok"] for c in checks.values()), **checks, "clip_model": clip_model()}


def _safe_url(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url


def readiness_report() -> dict:
    """What must work before a web process takes traffic: the database, the broker, the model."""
    model = clip_model()
    checks = {"database": check_database(), "broker": check_broker(), "clip_model": {"ok": model["ready"], **model}}
    return {"ok": all(c["ok"] for c in checks.values()), **checks}
