"""Checks that a file is an image Atelier accepts (through `image_gate`), and reads its facts
(size, format, date taken)."""
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from atelier.library.image_gate import ACCEPTED_FORMATS, BadImage, open_image
from ml_core.clip.decode import to_rgb

EXTENSION = ACCEPTED_FORMATS  # Pillow format → stored extension
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 36867
DATETIME = 306

__all__ = ["EXTENSION", "BadImage", "ImageFacts", "inspect_image", "open_oriented_rgb"]


@dataclass
class ImageFacts:
    format: str
    width: int
    height: int
    taken_at: dt.datetime | None


def inspect_image(path: Path) -> ImageFacts:
    """Decodes the whole image once (truncated or corrupt data fails here), after the gate's checks."""
    with open_image(path) as img:
        fmt = img.format.upper()
        width, height = img.size
        img.load()
        taken_at = _taken_at(img)
        orientation = img.getexif().get(0x0112, 1)
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
    """Opens a stored original (it passed the gate) with EXIF orientation applied, as RGB (GIFs:
    the first frame, where Image.open leaves them); deep greyscale (16-bit, float) is scaled by its
    value range, never clipped."""
    with Image.open(path) as img:
        if draft_to and img.format == "JPEG":
            img.draft("RGB", (draft_to, draft_to))  # decode at reduced scale: much faster for thumbnails
        return to_rgb(ImageOps.exif_transpose(img))
