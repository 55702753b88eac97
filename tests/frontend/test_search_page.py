"""Headless Chromium against Daphne: type a query in the top bar, results appear, "more like this"
works, and dropping a photo on the page searches by it."""
import base64
import os
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import image_bytes
from tests.platform.services import browser, log_in, web_server  # noqa: F401  (fixtures)
from tests.platform.test_search import SMALL, add_photos, encode, random_vectors, unit

SHOTS = Path(os.environ.get("ATELIER_SCREENSHOTS", "/tmp/atelier-screens"))
pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def library(make_user, settings, monkeypatch, tmp_path):
    # Made before the browser starts (Playwright's sync API runs an event loop in this thread).
    from django.conf import global_settings
    from ml_core.clip import get_engine

    from atelier.library.models import Collection

    monkeypatch.setenv("ATELIER_CLIP_MODEL", SMALL)  # read by the Daphne process
    monkeypatch.setenv("ATELIER_VAR_DIR", str(tmp_path / "var"))
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    user = make_user("maria", password="s3cret-pass")
    mine = Collection.objects.create(owner=user, name="Shapes")
    red, beach = encode("red circle", "beach")
    dropped = image_bytes("PNG", size=(96, 96), color=(20, 180, 60))
    image_vector = get_engine(SMALL).encode_images([dropped]).vectors[0]
    ids = add_photos(mine, [unit(red), unit(beach), image_vector, *random_vectors(30, seed=40, around=red, spread=2.0)],
                     titles=["The red one", "Beach day", "Green square", *[f"shape {i}" for i in range(30)]])
    return {"ids": ids, "dropped": dropped}


def test_type_a_query_see_results_more_like_this_and_drop_a_photo(library, web_server, browser):
    ids = library["ids"]
    page = browser.new_page()
    page.set_default_timeout(20_000)
    log_in(page, web_server.url, "maria")

    page.fill(".topbar .search-box input[name=q]", "red circle")
    page.press(".topbar .search-box input[name=q]", "Enter")
    page.wait_for_selector("#search-results .result")
    first = page.locator("#search-results .result").first
    assert first.get_attribute("data-photo") == str(ids[0])
    assert "The red one" in first.inner_html()
    assert float(first.locator(".score").inner_text()) > 0.99
    assert page.locator("#search-results .result").count() == 20
    SHOTS.mkdir(parents=True, exist_ok=True)
    first.hover()
    page.screenshot(path=str(SHOTS / "search-results.png"))

    page.click("#search-more")  # the next page is appended, no duplicates
    page.wait_for_function("document.querySelectorAll('#search-results .result').length > 20")
    shown = page.eval_on_selector_all("#search-results .result", "els => els.map(e => e.dataset.photo)")
    assert len(shown) == len(set(shown))

    first.hover()
    first.locator(".more-like").click()
    page.wait_for_url(f"**similar={ids[0]}")
    page.wait_for_selector("#search-results .result")
    similar = page.eval_on_selector_all("#search-results .result", "els => els.map(e => e.dataset.photo)")
    assert similar and str(ids[0]) not in similar

    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "green.png", { type: "image/png" }));
        document.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", base64.b64encode(library["dropped"]).decode())
    page.wait_for_selector("h1:has-text('Photos like green.png')")
    assert page.locator("#search-results .result").first.get_attribute("data-photo") == str(ids[2])

    page.goto(web_server.url + f"/photos/{ids[1]}/")
    page.click("a.more-like-this")
    page.wait_for_selector("#search-results .result")
