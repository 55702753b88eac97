"""The one gate every image a user hands us passes before anything decodes it.

Upload, zip members, import_folder (through `imaging.inspect_image`) and search by image all open
the user's bytes here, so they accept the same formats and the same sizes:

1. the format is sniffed from the first bytes with Pillow's own signature checks (no decoder runs),
   and anything outside `ACCEPTED_FORMATS` is refused by name;
2. only the accepted formats' plugins may parse the header (`Image.open(formats=...)`);
3. width × height, read from the header, is refused above `ATELIER_MAX_IMAGE_PIXELS` before a single
   pixel is decoded; Pillow's own bomb guard stays on behind it (`align_pillow_guard`);
4. every exception a decoder raises (including `NotImplementedError` from half-supported variants)
   becomes a `BadImage` with a per-file reason, never a traceback.
"""
from __future__ import annotations

import io
import os
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from django.conf import settings
from PIL import Image, UnidentifiedImageError

try:  # HEIC/HEIF where pillow-heif is installed
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - optional
    HEIF = False

# Pillow format name → the extension the original is stored under. The only list of formats:
# search filters, the search page and the API schema derive theirs from it.
ACCEPTED_FORMATS: dict[str, str] = {
    "JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif",
    **({"HEIF": "heic", "HEIC": "heic"} if HEIF else {}),
}
SNIFF_BYTES = 16  # what Pillow itself hands to each plugin's signature check


class BadImage(Exception):
    """The file is not an image Atelier accepts; the message says why (one line, for people)."""

    too_large = False


class ImageTooLarge(BadImage):
    """Over the byte or pixel limit (HTTP 413 where a request carried it)."""

    too_large = True


def stored_extensions() -> list[str]:
    """Extensions of stored originals, e.g. for the search `filetype` filter."""
    return sorted(set(ACCEPTED_FORMATS.values()))


def align_pillow_guard() -> None:
    """Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that, in every process and for
    every image (thumbnails and embeddings of stored originals too): follow our limit."""
    Image.MAX_IMAGE_PIXELS = settings.ATELIER_MAX_IMAGE_PIXELS


def sniff_format(head: bytes) -> str | None:
    """The Pillow format whose signature matches these first bytes, without running a decoder
    (an accepted one when several match, e.g. a HEIF container that AVIF's check also claims)."""
    Image.init()
    matches = [fmt for fmt in Image.ID
               if Image.OPEN[fmt][1] is not None and Image.OPEN[fmt][1](head[:SNIFF_BYTES])]
    return next((fmt for fmt in matches if fmt in ACCEPTED_FORMATS), matches[0] if matches else None)


def check_size(nbytes: int) -> None:
    limit = settings.ATELIER_MAX_UPLOAD_BYTES
    if nbytes > limit:
        raise ImageTooLarge(f"file is {nbytes:,} bytes, over the size limit of {limit:,} bytes")


@contextmanager
def open_image(source: str | os.PathLike | BinaryIO) -> Iterator[Image.Image]:
    """Opens a user's image with its format and pixel count checked; nothing is decoded yet.
    Any decoder error inside the `with` block (e.g. `img.load()`) also becomes a `BadImage`."""
    fp = open(source, "rb") if isinstance(source, (str, os.PathLike)) else source
    try:
        _refuse_unaccepted(fp)
        with Image.open(fp, formats=[f for f in ACCEPTED_FORMATS if f in Image.OPEN]) as img:
            _refuse_header(img)
            yield img
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage("not an image (Pillow cannot identify it)") from None
    except Image.DecompressionBombError:
        raise ImageTooLarge(_over_limit("image has more pixels")) from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this file's fault, not ours
        raise BadImage(f"truncated or corrupt image: {type(exc).__name__}: {exc}"[:300]) from None
    finally:
        if fp is not source:
            fp.close()


def decode_rgb(data: bytes) -> Image.Image:
    """Bytes → a fully decoded RGB image (first frame), through the gate."""
    check_size(len(data))
    with open_image(io.BytesIO(data)) as img:
        img.load()
        return img.convert("RGB")


def _refuse_unaccepted(fp: BinaryIO) -> None:
    start = fp.tell()
    head = fp.read(SNIFF_BYTES)
    fp.seek(start)
    fmt = sniff_format(head)
    if fmt is not None and fmt not in ACCEPTED_FORMATS:
        raise BadImage(_unsupported(fmt))


def _refuse_header(img: Image.Image) -> None:
    fmt = (img.format or "").upper()
    if fmt not in ACCEPTED_FORMATS:  # e.g. a JPEG that Pillow reads as MPO
        raise BadImage(_unsupported(fmt or "unknown"))
    width, height = img.size
    if width == 0 or height == 0:
        raise BadImage("image has no pixels")
    if width * height > settings.ATELIER_MAX_IMAGE_PIXELS:
        raise ImageTooLarge(_over_limit(f"image is {width}×{height} = {width * height:,} pixels"))


def _unsupported(fmt: str) -> str:
    return f"unsupported image format {fmt} (accepted: {', '.join(sorted(ACCEPTED_FORMATS))})"


def _over_limit(what: str) -> str:
    return f"{what}, over the limit of {settings.ATELIER_MAX_IMAGE_PIXELS:,} pixels (decompression bomb guard)"
