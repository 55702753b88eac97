"""16-bit and float greyscale TIFFs (scans, scientific and satellite images): thumbnails and
embeddings see their actual value range, not a clipped white or black page."""
import io

import numpy as np
import pytest
from PIL import Image

from atelier.library import storage
from atelier.library.models import Photo
from ml_core.clip import get_engine
from ml_core.clip.decode import to_rgb

SMALL = "random:atelier-demo-clip"
RAMP = np.linspace(0, 1, 96 * 96, dtype=np.float32).reshape(96, 96)


def tiff(values: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, "TIFF")
    return buf.getvalue()


CASES = {
    "16-bit scan": (1000 + 20000 * RAMP).astype(np.uint16),       # Pillow's convert: all white
    "12-in-16-bit": (200 + 3000 * RAMP).astype(np.uint16),         # mostly white too
    "32-bit integer": (-5000 + 90000 * RAMP).astype(np.int32),
    "float reflectance": (0.001 + 0.02 * RAMP).astype(np.float32),  # Pillow's convert: all black
}


@pytest.mark.parametrize("name", list(CASES))
def test_deep_greyscale_is_stretched_over_its_range(name):
    pixels = np.asarray(to_rgb(Image.open(io.BytesIO(tiff(CASES[name])))))
    assert pixels.shape == (96, 96, 3) and pixels.min() == 0 and pixels.max() == 255
    assert 100 < pixels.mean() < 155  # a ramp stays a ramp
    flat = np.asarray(to_rgb(Image.fromarray(np.full((8, 8), 4242, np.uint16))))
    assert (flat == 0).all()  # one value: no range to stretch, no division by zero


@pytest.mark.django_db
def test_upload_of_16_bit_tiffs_makes_true_thumbnails_and_distinct_embeddings(api, collection, django_capture_on_commit_callbacks):
    ramp, reverse = CASES["16-bit scan"], CASES["16-bit scan"][::-1].copy()
    files = []
    for name, values in [("ramp.tif", ramp), ("reverse.tif", reverse)]:
        f = io.BytesIO(tiff(values))
        f.name = name
        files.append(f)
    with django_capture_on_commit_callbacks(execute=True):
        body = api.post(f"/api/collections/{collection.pk}/photos/", {"files": files}, format="multipart").json()
    assert [p["filename"] for p in body["created"]] == ["ramp.tif", "reverse.tif"], body
    thumbs = []
    for photo in Photo.objects.filter(collection=collection).order_by("id"):
        grey = np.asarray(Image.open(storage.thumbnail_path(photo.sha256, "grid")).convert("L"), dtype=np.float32)
        assert grey.std() > 40 and grey.max() > 200 and grey.min() < 50, "thumbnail clipped to one tone"
        thumbs.append(grey)
    assert np.abs(thumbs[0] - thumbs[1]).mean() > 40  # two different scans, two different pictures
    vectors = get_engine(SMALL).encode_images([tiff(ramp), tiff(reverse)]).vectors
    assert float(vectors[0] @ vectors[1]) < 0.999, "identical embeddings: the pixels were clipped"
