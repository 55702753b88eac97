"""Accounts: users and API tokens (django-rest-knox: stored hashed, expiring, revocable)."""
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from knox.models import AuthToken
from knox.settings import knox_settings

from atelier.library.services import InvalidInput


def do_create_user(*, username: str, password: str):
    """A new user; the password passes the same validators as everywhere else (AUTH_PASSWORD_VALIDATORS)."""
    users = get_user_model()
    try:
        validate_password(password, user=users(username=username))
    except ValidationError as exc:
        raise InvalidInput("password: " + " ".join(exc.messages)) from None
    try:
        with transaction.atomic():
            return users.objects.create_user(username=username, password=password)
    except IntegrityError:
        raise InvalidInput("username: already taken") from None


def do_issue_token(*, user) -> dict:
    """A new token for the user, valid for REST_KNOX["TOKEN_TTL"]; only its hash is stored."""
    instance, token = AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
    return {"token": token, "expiry": instance.expiry}


def do_revoke_tokens(*, user) -> int:
    """Ends every API token of the user; returns how many."""
    return user.auth_token_set.all().delete()[0]
