"""Ingestion: accepted formats, every kind of bad input, duplicates, zips; never an orphan."""
import io
import struct
import zipfile

import pytest
from PIL import Image

from atelier.library.ingest import do_ingest_files
from atelier.library.models import Photo
from tests.helpers import image_bytes, media_files, zip_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    """Jobs are enqueued at commit: run those callbacks (inline tasks) as a real commit would."""
    def run(collection, owner, *files):
        with django_capture_on_commit_callbacks(execute=True):
            return do_ingest_files(collection=collection, user=owner, files=[(name, io.BytesIO(data)) for name, data in files])

    return run


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tif")])
def test_accepted_formats_are_stored_with_their_facts(ingest, collection, owner, fmt, ext, settings):
    report = ingest(collection, owner, (f"pic.{ext}", image_bytes(fmt, size=(40, 30))))
    assert report.rejected == [] and len(report.created) == 1
    photo = Photo.objects.get(pk=report.created[0]["id"])
    assert (photo.format, photo.width, photo.height) == (ext, 40, 30)
    stored = media_files(settings.MEDIA_ROOT)
    assert f"originals/{photo.sha256[:2]}/{photo.sha256[2:4]}/{photo.sha256}.{ext}" in stored
    assert photo.thumbs_ready  # the processing job ran (inline in tests)


def test_gif_first_frame_and_exif_orientation_and_date(ingest, collection, owner, settings):
    img = Image.new("RGB", (60, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise
    exif.get_ifd(0x8769)[36867] = "2021:07:04 12:30:00"
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    report = ingest(collection, owner, ("rotated.jpg", buf.getvalue()))
    photo = Photo.objects.get(pk=report.created[0]["id"])
    assert (photo.width, photo.height) == (20, 60)
    assert photo.taken_at.isoformat().startswith("2021-07-04T12:30:00")
    from atelier.library.storage import thumbnail_path

    with Image.open(thumbnail_path(photo.sha256, "grid")) as thumb:
        assert thumb.size[1] > thumb.size[0]  # orientation applied to the thumbnail


def _truncated_jpeg():
    data = image_bytes("JPEG", size=(300, 300))
    return data[: len(data) // 2]


def _bomb_png():
    # A valid PNG header that claims 40000×40000 pixels: refused before decoding.
    img = image_bytes("PNG", size=(8, 8))
    ihdr_at = img.index(b"IHDR")
    import zlib

    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + header) & 0xFFFFFFFF)
    return img[:ihdr_at + 4] + header + crc + img[ihdr_at + 4 + 13 + 4:]


BAD_CASES = [
    ("notes.txt", b"hello, I am not an image", "not an image"),
    ("broken.jpg", None, "truncated or corrupt"),
    ("empty.png", b"", "empty file"),
    ("bomb.png", None, "over the limit"),
    ("doc.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", "not an image"),
]


@pytest.mark.parametrize("name,data,reason", BAD_CASES)
def test_bad_files_are_rejected_with_a_reason_and_leave_nothing(ingest, collection, owner, settings, name, data, reason):
    settings.ATELIER_MAX_IMAGE_PIXELS = 50_000_000
    data = {"broken.jpg": _truncated_jpeg, "bomb.png": _bomb_png}.get(name, lambda: data)()
    good = image_bytes("PNG")
    report = ingest(collection, owner, (name, data), ("good.png", good))
    assert len(report.created) == 1, "the rest of the batch succeeds"
    assert len(report.rejected) == 1
    rejected = report.rejected[0]
    assert rejected["filename"] == name and name in rejected["reason"] and reason in rejected["reason"]
    assert Photo.objects.count() == 1
    photo = Photo.objects.get()
    assert media_files(settings.MEDIA_ROOT) == sorted([
        f"originals/{photo.sha256[:2]}/{photo.sha256[2:4]}/{photo.sha256}.png",
        f"thumbs/grid/{photo.sha256[:2]}/{photo.sha256}.jpg",
        f"thumbs/large/{photo.sha256[:2]}/{photo.sha256}.jpg",
    ]), "no orphan file (temp files included)"


def test_unsupported_image_format_is_named(ingest, collection, owner, settings):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PPM")
    report = ingest(collection, owner, ("pic.ppm", buf.getvalue()))
    assert "unsupported image format PPM" in report.rejected[0]["reason"]
    assert media_files(settings.MEDIA_ROOT) == [] and Photo.objects.count() == 0


def test_file_over_size_limit(ingest, collection, owner, settings):
    settings.ATELIER_MAX_UPLOAD_BYTES = 1000
    report = ingest(collection, owner, ("big.bmp", image_bytes("BMP", size=(100, 100))))
    assert "over the size limit of 1,000 bytes" in report.rejected[0]["reason"]
    assert media_files(settings.MEDIA_ROOT) == [] and Photo.objects.count() == 0


def test_duplicates_are_reported_not_stored_twice(ingest, collection, owner, settings, make_user):
    data = image_bytes("PNG")
    first = ingest(collection, owner, ("a.png", data))
    second = ingest(collection, owner, ("copy-of-a.png", data), ("a-again.png", data))
    assert second.created == []
    assert second.duplicates == [{"id": first.created[0]["id"], "filename": "copy-of-a.png"}, {"id": first.created[0]["id"], "filename": "a-again.png"}]
    assert Photo.objects.count() == 1
    originals = [f for f in media_files(settings.MEDIA_ROOT) if f.startswith("originals/")]
    assert len(originals) == 1


def test_failure_while_recording_removes_the_stored_file(ingest, collection, owner, settings, monkeypatch):
    from atelier.library import ingest as ingest_module

    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ingest_module.Photo.objects, "create", explode)
    report = ingest(collection, owner, ("a.png", image_bytes("PNG")))
    assert report.created == [] and "could not be stored" in report.rejected[0]["reason"]
    assert media_files(settings.MEDIA_ROOT) == []


def test_zip_upload_takes_images_and_refuses_dangerous_entries(ingest, collection, owner, settings):
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("photos/one.jpg", image_bytes("JPEG"))
        zf.writestr("photos/two.png", image_bytes("PNG", color=(0, 0, 255)))
        zf.writestr("../escape.png", image_bytes("PNG", color=(1, 2, 3)))
        zf.writestr("/etc/abs.png", image_bytes("PNG", color=(3, 2, 1)))
        link = zipfile.ZipInfo("photos/link.jpg")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
        zf.writestr("inner.zip", zip_bytes({"x.png": image_bytes("PNG", color=(9, 9, 9))}))
        zf.writestr("sneaky.jpg", zip_bytes({"y.png": image_bytes("PNG", color=(8, 8, 8))}))
        zf.writestr("__MACOSX/._one.jpg", b"junk")
        zf.writestr("readme.txt", b"not an image")
    report = ingest(collection, owner, ("album.zip", evil.getvalue()))
    assert sorted(c["filename"] for c in report.created) == ["album.zip/photos/one.jpg", "album.zip/photos/two.png"]
    reasons = {r["filename"]: r["reason"] for r in report.rejected}
    assert "escapes" in reasons["album.zip/../escape.png"]
    assert "escapes" in reasons["album.zip//etc/abs.png"]
    assert "symbolic link" in reasons["album.zip/photos/link.jpg"]
    assert "nested archive" in reasons["album.zip/inner.zip"]
    assert "nested archive" in reasons["album.zip/sneaky.jpg"]
    assert "not an image" in reasons["album.zip/readme.txt"]
    assert len(reasons) == 6
    assert Photo.objects.count() == 2
    assert not any("escape" in f or "passwd" in f for f in media_files(settings.MEDIA_ROOT))


def test_zip_bomb_is_refused(ingest, collection, owner, settings):
    settings.ATELIER_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.bmp", b"\0" * (20 * 1024 * 1024))  # 20 MB of zeros compress ~1000:1
        zf.writestr("ok.png", image_bytes("PNG"))
    report = ingest(collection, owner, ("bomb.zip", buf.getvalue()))
    assert [c["filename"] for c in report.created] == ["bomb.zip/ok.png"]
    assert report.rejected[0]["filename"] == "bomb.zip/bomb.bmp"
    assert "over the limit" in report.rejected[0]["reason"] or "zip bomb" in report.rejected[0]["reason"]


def test_zip_whose_total_expands_too_far_is_refused_whole(ingest, collection, owner, settings):
    settings.ATELIER_MAX_ZIP_BYTES = 3000
    entries = {f"p{i}.png": image_bytes("PNG", size=(32, 32), color=(i, 50, 50)) for i in range(40)}
    report = ingest(collection, owner, ("many.zip", zip_bytes(entries)))
    assert any(r["filename"] == "many.zip" and "zip bomb" in r["reason"] for r in report.rejected)


def test_broken_zip_is_reported(ingest, collection, owner, settings):
    report = ingest(collection, owner, ("bad.zip", b"PK\x03\x04garbage"))
    assert report.rejected[0]["filename"] == "bad.zip" and "zip" in report.rejected[0]["reason"]
    assert media_files(settings.MEDIA_ROOT) == []


def test_heic_is_accepted_where_pillow_heif_is_installed(ingest, collection, owner):
    pytest.importorskip("pillow_heif")
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 30)).save(buf, "HEIF")
    report = ingest(collection, owner, ("phone.heic", buf.getvalue()))
    photo = Photo.objects.get(pk=report.created[0]["id"])
    assert (photo.format, photo.width, photo.height, photo.thumbs_ready) == ("heic", 64, 48, True)
