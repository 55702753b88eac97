"""End to end in headless Chromium: log in, create a collection, upload (one file bad), watch it work."""
import os
from pathlib import Path

import pytest

from tests.frontend.ui import VIEWPORTS, assert_no_sideways_scroll, wait_until
from tests.helpers import image_bytes
from tests.platform.services import browser, log_in, web_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("ATELIER_SCREENSHOTS", "/tmp/atelier-screens"))


@pytest.fixture
def maria(make_user, settings):
    # Made before the browser starts: Playwright's sync API runs an event loop in this thread,
    # where Django refuses database calls. Hashed as the server (default settings) expects.
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    return make_user("maria", password="s3cret-pass")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_login_create_upload_thumbnails_and_bad_file_reason(maria, web_server, browser, tmp_path, size):
    files = []
    for name, data in [("red.png", image_bytes("PNG", size=(200, 150), color=(220, 40, 40))),
                       ("blue.jpg", image_bytes("JPEG", size=(150, 200), color=(30, 60, 220))),
                       ("notes.jpg", b"this is not an image at all")]:
        (tmp_path / name).write_bytes(data)
        files.append(str(tmp_path / name))

    page = browser.new_page(viewport=VIEWPORTS[size])
    log_in(page, web_server.url, "maria")
    page.fill("#new-collection input[name=name]", "Summer")
    page.click("#new-collection button[type=submit]")
    page.wait_for_selector("h1:has-text('Summer')")
    wait_until(page, "document.body.dataset.socket === 'open'")  # live updates connected

    page.set_input_files("#file-input", files)
    wait_until(page, "document.querySelectorAll('.upload-row[data-result]').length === 3")
    bad = page.locator(".upload-row", has_text="notes.jpg")
    assert bad.get_attribute("data-result") == "error"
    assert "notes.jpg: not an image" in bad.locator(".result").inner_text()
    assert page.locator(".upload-row[data-result=ok]").count() == 2

    # Thumbnails appear without a reload, pushed by the job's websocket updates.
    wait_until(page, "document.querySelectorAll('#photo-grid .tile img').length === 2")
    # ...and actually load (a 404 or a broken image would leave naturalWidth at 0).
    wait_until(page, "[...document.querySelectorAll('#photo-grid .tile img')].every(i => i.complete && i.naturalWidth > 0)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert_no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"collection-after-upload-{size}.png"), full_page=True)

    page.goto(web_server.url + "/jobs/")
    # One upload of three files is one entry in words, its jobs as steps: thumbnails for both
    # accepted files (plus their CLIP embeddings when a model is ready), all finished.
    wait_until(page, "document.querySelectorAll('#jobs-table tbody tr.entry').length === 1"
                           " && document.querySelector('#jobs-table tbody tr.entry').dataset.state === 'succeeded'")
    entry = page.locator("#jobs-table tr.entry")
    assert entry.locator(".title").inner_text() == "Processing 2 photos in Summer"
    assert entry.get_by_role("link", name="Summer").get_attribute("href").startswith("/collections/")
    steps = entry.locator("li.step .step-name").all_inner_texts()
    assert steps.count("Thumbnails") == 2 and set(steps) <= {"Thumbnails", "Reading with CLIP (for search)"}
    assert entry.locator("time").count() == 2  # started and finished
    assert_no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"jobs-{size}.png"), full_page=True)
