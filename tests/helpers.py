"""Helpers shared by the platform, frontend and service tests."""
import io
import zipfile

from PIL import Image
from rest_framework.test import APIClient


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


def api_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def add_member(collection, user, role):
    from atelier.library.models import Membership

    return Membership.objects.create(collection=collection, user=user, role=role)


def media_files(root):
    """Files under the media root, ignoring temp dirs (which must be empty too: checked separately)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []
