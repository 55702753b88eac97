from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from atelier.core.health import health_report


@never_cache
def healthz(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


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
