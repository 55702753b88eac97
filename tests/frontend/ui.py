"""Helpers for the browser journeys: the two screen sizes, seeded libraries, screenshots for docs/."""
import io
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image

DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
COLOURS = [(214, 69, 65), (242, 153, 74), (246, 208, 85), (112, 181, 97), (72, 156, 201), (111, 97, 186), (190, 98, 160)]


def doc_screenshot(page, name: str) -> Path:
    """A small PNG of what the page shows now (half size, 128 colours) in docs/screenshots/, when
    ATELIER_DOC_SCREENSHOTS=1 asks for them (a plain test run leaves the tracked files alone)."""
    if os.environ.get("ATELIER_DOC_SCREENSHOTS", "0") != "1":
        return None
    wait_until(page, """[...document.querySelectorAll('img')].filter(i => i.getBoundingClientRect().top < innerHeight
                             && i.getBoundingClientRect().bottom > 0).every(i => i.complete)""")
    image = Image.open(io.BytesIO(page.screenshot()))
    image = image.resize((image.width // 2, image.height // 2), Image.LANCZOS) if image.width > 800 else image
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    path = DOCS_SHOTS / f"{name}.png"
    image.convert("RGB").quantize(128).save(path, optimize=True)
    return path


def assert_no_sideways_scroll(page) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1], f"{page.url} scrolls sideways: {width[0]} px wide at {width[1]} px"


def seed_photos(collection, n: int, *, newest=datetime(2026, 11, 30, 18, tzinfo=timezone.utc), step=timedelta(hours=1)):
    """n photo rows (titled "Photo 1" newest ... "Photo n" oldest, one an hour) whose grid thumbnails
    are hard links to a few small coloured JPEGs, so thousands of rows cost a second."""
    from atelier.library.models import Photo

    rows = [Photo(collection=collection, sha256=f"{collection.pk:06x}{i:058x}", filename=f"IMG_{i + 1:05d}.jpg",
                  title=f"Photo {i + 1}", format="jpg", width=96, height=96, bytes=700, taken_at=newest - i * step,
                  thumbs_ready=True) for i in range(n)]
    Photo.objects.bulk_create(rows, batch_size=2000)
    give_thumbnails(rows)
    return rows


def give_thumbnails(photos) -> None:
    """Grid and large thumbnails for photo rows: hard links to a few small coloured JPEGs."""
    from atelier.library import storage

    swatches = []
    for i, colour in enumerate(COLOURS):
        path = storage.media_root() / "swatches" / f"{i}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (96, 96), colour).save(path, "JPEG")
        swatches.append(path)
    for i, row in enumerate(photos):
        for size in ("grid", "large"):
            target = storage.thumbnail_path(row.sha256, size)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.link(swatches[i % len(swatches)], target)


def wait_until(page, expression: str, *, timeout: float = 20_000) -> None:
    """Waits until a JavaScript expression is true. Polls with `page.evaluate` (the DevTools protocol):
    Playwright's `wait_for_function` compiles its predicate with eval, which the pages' CSP forbids."""
    import time

    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout / 1000:.0f} s for: {expression}")
        page.wait_for_timeout(50)


def in_db(fn):
    """Runs a database call outside the thread where Playwright's event loop refuses Django's."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def browser_user(make_user, settings, username: str, **kwargs):
    """A user who logs in through the real form (password "s3cret-pass", hashed as the server expects);
    made before the browser starts, as Playwright's loop refuses Django database calls in this thread."""
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    return make_user(username, password="s3cret-pass", **kwargs)


def open_timeline(browser, server_url: str, username: str, collection, size: str):
    """A new page at that screen size, signed in, showing the collection's timeline once it is ready."""
    from tests.platform.services import log_in

    page = browser.new_page(viewport=VIEWPORTS[size])
    log_in(page, server_url, username)
    page.goto(f"{server_url}/collections/{collection.pk}/")
    page.wait_for_selector("body[data-timeline=ready]")
    return page
