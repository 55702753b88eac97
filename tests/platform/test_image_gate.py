"""The image gate: one format list, pixel limit read from the header before any decode, Pillow's
guard on, every decoder error a per-file reason; upload and search by image refuse alike."""
import io
import logging
import struct
import tracemalloc
import zlib

import pytest
from PIL import Image, ImageFile

from atelier.library import image_gate
from atelier.library.image_gate import BadImage, ImageTooLarge
from atelier.library.imaging import inspect_image
from atelier.library.ingest import do_ingest_files
from atelier.library.models import Photo
from tests.helpers import api_for, image_bytes, media_files

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


def no_decoding(monkeypatch):
    """Fails the test if any image's pixels are decoded."""
    def load(self, *args, **kwargs):
        raise AssertionError(f"decoded a {self.format} image's pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.fixture(name="no_decoding")
def no_decoding_fixture(monkeypatch):
    no_decoding(monkeypatch)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_1bit(width: int, height: int) -> bytes:
    """A valid, tiny 1-bit PNG of any size (all black), compressed row by row."""
    compressor, row, parts = zlib.compressobj(9), b"\x00" * (1 + (width + 7) // 8), []
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def gif_bomb(screen=(65535, 65535), frame=(65535, 65535)) -> bytes:
    """A few dozen bytes of GIF claiming billions of pixels (the classic 44-byte bomb)."""
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0, 0, 0)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, *frame, 0)
    return header + descriptor + b"\x02\x02\x4c\x01\x00" + b";"


def dds_unimplemented() -> bytes:
    """A DDS header whose pixel format Pillow knows but cannot decode (NotImplementedError in open)."""
    head = struct.pack("<3I", 0x1007, 64, 64) + struct.pack("<3I", 0, 0, 0) + b"\x00" * 44
    head += struct.pack("<4I", 32, 0x4, int.from_bytes(b"ABCD", "little"), 0)
    return b"DDS " + struct.pack("<I", 124) + head.ljust(120, b"\x00")


def psd_header() -> bytes:
    return b"8BPS" + struct.pack(">H", 1) + b"\x00" * 6 + struct.pack(">HIIHH", 3, 8, 8, 8, 3) + b"\x00" * 16


def sun_raster() -> bytes:
    return struct.pack(">8I", 0x59A66A95, 8, 8, 8, 64, 1, 0, 0) + b"\x00" * 64


def saved(fmt: str, mode="RGB", **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).convert(mode).save(buf, fmt, **kwargs)
    return buf.getvalue()


REFUSED_FORMATS = {  # formats Pillow reads that Atelier does not accept
    "PSD": psd_header, "BLP": lambda: saved("BLP", mode="P"), "AVIF": lambda: saved("AVIF"),
    "MPO": lambda: saved("MPO", save_all=True, append_images=[Image.new("RGB", (16, 16))]), "SUN": sun_raster, "PPM": lambda: saved("PPM"), "DDS": dds_unimplemented,
}


def ingest(collection, user, name: str, data: bytes):
    return do_ingest_files(collection=collection, user=user, files=[(name, io.BytesIO(data))], start_job=False)


def search_by(data: bytes, name="query.png"):
    upload = io.BytesIO(data)
    upload.name = name
    return api_for(None).post("/api/search/", {"image": upload}, format="multipart")


# -- pixels, before any decode -----------------------------------------------------------------------
def test_180_megapixel_png_is_refused_from_its_header(tmp_path, no_decoding):
    path = tmp_path / "huge.png"
    path.write_bytes(png_1bit(15_000, 12_000))  # 180 Mpx in ~20 KB
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge, match=r"15000×12000 = 180,000,000 pixels, over the limit of 100,000,000"):
            inspect_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * MB


def test_search_by_image_refuses_the_180_megapixel_png_with_413(monkeypatch):
    data = png_1bit(15_000, 12_000)
    assert search_by(b"not an image").status_code == 400  # imports: outside the measure
    no_decoding(monkeypatch)
    tracemalloc.start()
    try:
        response = search_by(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert "over the limit of 100,000,000 pixels" in response.json()["error"]
    assert peak < 50 * MB


@pytest.mark.parametrize("screen,frame", [((65535, 65535), (65535, 65535)), ((1, 1), (65535, 65535)),
                                          ((1, 1), (15_000, 10_000))], ids=["screen", "frame", "frame-150Mpx"])
def test_gif_bombs_are_refused_before_decoding(screen, frame, no_decoding, collection, owner):
    data = gif_bomb(screen, frame)
    assert len(data) < 50
    with pytest.raises(ImageTooLarge, match="over the limit of 100,000,000 pixels"):
        with image_gate.open_image(io.BytesIO(data)):
            pass
    assert search_by(data, "bomb.gif").status_code == 413
    report = ingest(collection, owner, "bomb.gif", data)
    assert "over the limit" in report.rejected[0]["reason"] and not Photo.objects.exists()


def test_pillow_guard_stays_on_and_follows_the_setting(settings):
    assert Image.MAX_IMAGE_PIXELS == settings.ATELIER_MAX_IMAGE_PIXELS
    with pytest.raises(Image.DecompressionBombError):  # any other Pillow use in the process too
        Image.open(io.BytesIO(gif_bomb()))


# -- formats: one list, the same answer everywhere ------------------------------------------------------
@pytest.mark.parametrize("fmt", sorted(REFUSED_FORMATS))
def test_formats_upload_refuses_are_refused_by_search_too(fmt, collection, owner, settings):
    data = REFUSED_FORMATS[fmt]()
    report = ingest(collection, owner, f"pic.{fmt.lower()}", data)
    assert f"unsupported image format {fmt}" in report.rejected[0]["reason"]
    assert media_files(settings.MEDIA_ROOT) == [] and not Photo.objects.exists()
    response = search_by(data, f"pic.{fmt.lower()}")
    assert response.status_code == 400
    assert f"unsupported image format {fmt}" in response.json()["error"]


def test_undecodable_dds_is_an_unsupported_format_not_an_error_log(collection, owner, caplog):
    with pytest.raises(NotImplementedError):  # what Pillow itself does with this file
        Image.open(io.BytesIO(dds_unimplemented()))
    with caplog.at_level(logging.ERROR):
        report = ingest(collection, owner, "texture.dds", dds_unimplemented())
    assert report.rejected == [{"filename": "texture.dds", "reason": report.rejected[0]["reason"]}]
    assert "unsupported image format DDS" in report.rejected[0]["reason"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_decoder_exceptions_become_reasons(monkeypatch):
    def broken(self, *args, **kwargs):
        raise NotImplementedError("a variant this decoder does not handle")

    monkeypatch.setattr(ImageFile.ImageFile, "load", broken)
    with pytest.raises(BadImage, match="truncated or corrupt image: NotImplementedError"):
        image_gate.decode_rgb(image_bytes("PNG"))


def test_search_by_image_is_bounded_by_the_upload_size(settings):
    settings.ATELIER_MAX_UPLOAD_BYTES = 1000
    response = search_by(image_bytes("BMP", size=(100, 100)), "big.bmp")
    assert response.status_code == 413 and "over the size limit of 1,000 bytes" in response.json()["error"]


def test_an_oversize_search_request_is_refused_before_its_body_is_read(settings, monkeypatch):
    from atelier.api import parsers

    settings.ATELIER_MAX_UPLOAD_BYTES = 1000
    monkeypatch.setattr(parsers.MultiPartParser, "parse", lambda *a, **kw: pytest.fail("the body was parsed"))
    response = search_by(b"\x00" * 200_000, "big.png")
    assert response.status_code == 413 and "over the size limit of 1,000 bytes" in response.json()["error"]


def test_one_format_list():
    from atelier.search import params

    assert params.KNOWN_FORMATS == set(image_gate.ACCEPTED_FORMATS.values())
    assert image_gate.stored_extensions() == sorted(params.KNOWN_FORMATS)
