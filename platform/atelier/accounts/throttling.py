"""How django-axes sees a client and answers one that is locked out (settings: AXES_*)."""
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle


def client_ip(request: HttpRequest) -> str:
    """The client's address, as DRF's throttles see it: REMOTE_ADDR, or the address that
    `ATELIER_NUM_PROXIES` trusted proxies appended to X-Forwarded-For (a client cannot forge it)."""
    return BaseThrottle().get_ident(request)


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (f"too many failed sign-ins for this account or from this address: "
            f"try again in {minutes} minute{'s' if minutes != 1 else ''}")


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """429 with the reason: JSON for the API, the login page with the message for people."""
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": lockout_message()}, status=429)
    else:
        from django.contrib.auth.forms import AuthenticationForm

        response = render(request, "registration/login.html",
                          {"form": AuthenticationForm(request), "lockout": lockout_message()}, status=429)
    response["Retry-After"] = retry_after
    return response
