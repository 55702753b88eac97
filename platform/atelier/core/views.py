from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from atelier.core.health import health_report


@never_cache
def healthz(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
