"""Sign-in API: tokens (issue, log out, revoke all) and user creation. Failed sign-ins are counted by
django-axes (per account and per address); the token endpoint is also rate-limited per address."""
from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import extend_schema
from knox.auth import TokenAuthentication
from rest_framework import permissions as drf_permissions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from atelier.accounts import services
from atelier.api import serializers as s
from atelier.api.schema import ERROR_REF


class TokenView(APIView):
    """POST {username, password} → {token, expiry}. Send `Authorization: Token <token>`."""

    permission_classes = [drf_permissions.AllowAny]
    authentication_classes = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=s.CredentialsSerializer, responses={200: s.TokenSerializer, 429: ERROR_REF})
    def post(self, request):
        creds = s.CredentialsSerializer(data=request.data)
        creds.is_valid(raise_exception=True)
        # The Django request: django-axes marks it when the account or address is locked out, and
        # its middleware answers 429 (atelier.accounts.throttling.lockout_response).
        user = authenticate(request._request, **creds.validated_data)
        if user is None:
            return Response({"error": "wrong username or password"}, status=status.HTTP_400_BAD_REQUEST)
        token = services.do_issue_token(user=user)
        # As a web sign-in does: axes clears the failures counted, last_login is updated.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        return Response(token)


class LogoutView(APIView):
    """POST with a token: ends that token."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [drf_permissions.IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class RevokeTokensView(APIView):
    """POST (token or web session): ends every API token of the signed-in user."""

    permission_classes = [drf_permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request):
        return Response({"revoked": services.do_revoke_tokens(user=request.user)})


class UsersView(APIView):
    """POST {username, password} (staff): a new user; the password validators apply."""

    permission_classes = [drf_permissions.IsAdminUser]

    @extend_schema(request=s.CredentialsSerializer, responses={201: s.UserSerializer})
    def post(self, request):
        creds = s.CredentialsSerializer(data=request.data)
        creds.is_valid(raise_exception=True)
        user = services.do_create_user(**creds.validated_data)
        return Response({"id": user.pk, "username": user.username}, status=status.HTTP_201_CREATED)
