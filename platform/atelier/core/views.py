from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache

from atelier.core.health import health_report, readiness_report


@never_cache
def healthz(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@never_cache
def livez(request):
    """Liveness: the process answers (restart it when this fails); checks nothing else."""
    return JsonResponse({"ok": True})


@never_cache
def readyz(request):
    """Readiness: database, broker and model ready (send traffic only then)."""
    report = readiness_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


def may_read_metrics(request) -> bool:
    """With ATELIER_METRICS_TOKEN: `Authorization: Bearer <token>`; without: staff, or this machine."""
    token = settings.ATELIER_METRICS_TOKEN
    if token:
        return constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}")
    user = getattr(request, "user", None)
    return bool(user and user.is_staff) or request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1")


@never_cache
def metrics(request):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from atelier.core.metrics import REGISTRY

    if not may_read_metrics(request):
        return JsonResponse({"error": "metrics are for operators (ATELIER_METRICS_TOKEN)"}, status=403)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def not_found(request, exception=None):
    """JSON under /api/ (clients parse it), the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "not found"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "internal error"}, status=500)
    from django.views.defaults import server_error as html_server_error

    return html_server_error(request)
