"""Checks that a file is an image Atelier accepts, and reads its facts (size, format, date taken)."""
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from ml_core.clip.decode import to_rgb

try:  # HEIC/HEIF where pillow-heif is installed
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - optional
    HEIF = False

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"} | ({"HEIF", "HEIC"} if HEIF else set())
EXTENSION = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "HEIF": "heic", "HEIC": "heic"}
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 36867
DATETIME = 306

# Our own pixel limit is checked before decoding; Pillow's guard stays as a second line.
Image.MAX_IMAGE_PIXELS = None


class BadImage(Exception):
    """The file is not an image Atelier can keep; the message says why."""


@dataclass
class ImageFacts:
    format: str
    width: int
    height: int
    taken_at: dt.datetime | None


def inspect_image(path: Path) -> ImageFacts:
    max_pixels = settings.ATELIER_MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as img:
            fmt = (img.format or "").upper()
            if fmt not in ACCEPTED_FORMATS:
                raise BadImage(f"unsupported image format {fmt or 'unknown'} (accepted: {', '.join(sorted(ACCEPTED_FORMATS))})")
            width, height = img.size
            if width * height > max_pixels:
                raise BadImage(f"image is {width}×{height} = {width * height:,} pixels, over the limit of {max_pixels:,} (decompression bomb guard)")
            if width == 0 or height == 0:
                raise BadImage("image has no pixels")
            img.load()  # decodes everything: truncated or corrupt data fails here
            taken_at = _taken_at(img)
            orientation = img.getexif().get(0x0112, 1)
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage("not an image (Pillow cannot identify it)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImage(f"truncated or corrupt image: {exc}") from None
    if orientation in (5, 6, 7, 8):  # rotated 90°: store the size as displayed
        width, height = height, width
    return ImageFacts(format=fmt, width=width, height=height, taken_at=taken_at)


def _taken_at(img: Image.Image) -> dt.datetime | None:
    exif = img.getexif()
    raw = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) or exif.get(DATETIME)
    if not raw:
        return None
    try:
        return dt.datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def camera_of(path: Path) -> str | None:
    """"Make Model" from the file's EXIF (the model alone when it already names the maker), else None."""
    try:
        with Image.open(path) as img:
            exif = img.getexif()
    except (OSError, ValueError):
        return None
    make, model = (str(exif.get(tag) or "").strip("\x00 ") for tag in (0x010F, 0x0110))
    if model.lower().startswith(make.lower()):
        make = ""
    return " ".join(part for part in (make, model) if part) or None


def open_oriented_rgb(path: Path, *, draft_to: int | None = None) -> Image.Image:
    """Opens an image with EXIF orientation applied, as RGB (GIFs: first frame)."""
    img = Image.open(path)
    if draft_to and img.format == "JPEG":
        img.draft("RGB", (draft_to, draft_to))  # decode at reduced scale: much faster for thumbnails
    img.seek(0) if getattr(img, "is_animated", False) else None
    img = ImageOps.exif_transpose(img)
    return to_rgb(img)  # deep greyscale (16-bit, float) scaled by its value range, never clipped
