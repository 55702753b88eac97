"""Every API error is JSON with an `error` message (and per-field `fields` when there are some)."""
import logging

from django.http import JsonResponse
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from atelier.library.services import InvalidInput, PermissionDenied

log = logging.getLogger(__name__)


def json_exception_handler(exc, context):
    if isinstance(exc, InvalidInput):
        body = {"error": str(exc)}
        if exc.field:
            body["fields"] = {exc.field: [str(exc).split(": ", 1)[-1]]}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, PermissionDenied):
        return Response({"error": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    response = exception_handler(exc, context)
    if response is None:
        log.exception("unhandled API error", exc_info=exc)
        return Response({"error": "internal error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        response.data = {"error": str(data["detail"])}
    elif isinstance(data, dict):
        response.data = {"error": "invalid request: " + "; ".join(f"{k}: {_text(v)}" for k, v in data.items()),
                         "fields": {str(k): _messages(v) for k, v in data.items()}}
    else:
        response.data = {"error": _text(data)}
    return response


def _messages(value) -> list[str]:
    """A field's errors as a flat list of texts (nested list/dict errors are written out)."""
    if isinstance(value, (list, tuple)):
        return [m for v in value for m in _messages(v)]
    if isinstance(value, dict):
        return [f"{k}: {m}" for k, v in value.items() for m in _messages(v)]
    return [str(value)]


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def api_not_found(request, exception=None):
    return JsonResponse({"error": "not found"}, status=404)


def found_or_404(obj, what: str):
    """`access_*` selectors return None for what the caller may not see: answer 404, never 403."""
    if obj is None:
        from rest_framework.exceptions import NotFound

        raise NotFound(f"no such {what}")
    return obj
