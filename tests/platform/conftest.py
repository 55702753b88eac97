import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from PIL import Image
from rest_framework.test import APIClient

from atelier.library.models import Collection, Membership


def image_bytes(fmt: str = "JPEG", size=(64, 48), color=(200, 30, 30), **save_kwargs) -> bytes:
    buf = io.BytesIO()
    mode = "RGB" if fmt not in ("GIF",) else "P"
    img = Image.new("RGB", size, color)
    if mode == "P":
        img = img.convert("P")
    img.save(buf, fmt, **save_kwargs)
    return buf.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def make_user(db):
    def make(username: str, *, staff: bool = False, password: str = "pw"):
        return get_user_model().objects.create_user(username=username, password=password, is_staff=staff)

    return make


@pytest.fixture
def owner(make_user):
    return make_user("olga")


@pytest.fixture
def collection(owner):
    return Collection.objects.create(owner=owner, name="Holidays")


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


def api_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def add_member(collection, user, role):
    return Membership.objects.create(collection=collection, user=user, role=role)


def media_files(root):
    """Files under the media root, ignoring temp dirs (which must be empty too: checked separately)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []
