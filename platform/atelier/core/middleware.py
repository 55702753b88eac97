"""The boundary of every request: query strings and page forms through the shared validator, a
reason for malformed bodies, and Atelier's own 404 (JSON under /api/, the HTML page elsewhere) in
every mode, Django's debug page included."""
from csp.utils import build_policy
from django.conf import settings
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render

from atelier.core.validation import first_bad_value


def _fields(query) -> dict:
    """A QueryDict as field -> value (a list only where the field is repeated), to name fields plainly."""
    return {k: v[0] if len(v) == 1 else v for k, v in query.lists()}


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def refuse(request, field: str, problem: str, *, status: int = 400):
    if is_api(request):
        return JsonResponse({"error": f"{field}: {problem}", "fields": {field: [problem]}}, status=status)
    return render(request, "400.html", {"error": f"{field}: {problem}"}, status=status)


class BoundaryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        found = first_bad_value(_fields(request.GET))
        if found:
            return refuse(request, *found)
        if request.method == "POST" and not is_api(request):  # the API's parsers check their bodies
            try:
                found = first_bad_value(_fields(request.POST))
            except MultiPartParserError as exc:
                return refuse(request, "body", f"malformed multipart body: {exc}")
            if found:
                return refuse(request, *found)
        response = self.get_response(request)
        if response.status_code == 404:
            return self.own_404(request, response)
        return response

    @staticmethod
    def own_404(request, response):
        if is_api(request):
            if response.get("Content-Type", "").startswith("application/json"):
                return response
            return JsonResponse({"error": "not found"}, status=404)
        if settings.DEBUG and response.get("Content-Type", "").startswith("text/html"):
            own = render(request, "404.html", status=404)  # never Django's debug page, whose URL list leaks
            # django-csp leaves DEBUG 404s alone (for that debug page); ours gets the policy.
            own.headers["Content-Security-Policy"] = build_policy()
            return own
        return response
