"""Selecting photos in the timeline (click, shift-click, select all) and acting on them."""
import pytest

from atelier.library.models import Collection, Photo
from atelier.tagging.models import PhotoTag
from tests.frontend.ui import assert_no_sideways_scroll, browser_user, in_db, open_timeline, seed_photos, wait_until
from tests.platform.services import browser, web_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def library(make_user, settings):
    noor = browser_user(make_user, settings, "noor")
    collection = Collection.objects.create(owner=noor, name="Coast")
    Collection.objects.create(owner=noor, name="Best of")
    seed_photos(collection, 40)
    return collection


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_shift_click_range_then_bulk_tag_and_delete(library, web_server, browser, size):
    page = open_timeline(browser, web_server.url, "noor", library, size)
    assert page.locator("#selection-bar").is_hidden()
    tiles = page.locator("#photo-grid .tile")
    tiles.nth(1).locator(".tile-check").click()
    assert page.inner_text("#selection-count") == "1 selected"
    tiles.nth(5).locator(".tile-check").click(modifiers=["Shift"])
    assert page.inner_text("#selection-count") == "5 selected"
    chosen = page.eval_on_selector_all("#photo-grid .tile.selected", "ts => ts.map(t => t.title)")
    assert chosen == [f"Photo {i}" for i in range(2, 7)]
    tiles.nth(3).click()  # while selecting, a click on a photo toggles it instead of opening it
    assert page.inner_text("#selection-count") == "4 selected" and "/collections/" in page.url
    assert_no_sideways_scroll(page)

    page.fill("#bulk-tag-name", "sunset")
    page.click("#bulk-tag button[value=add]")
    wait_until(page, "document.getElementById('selection-note').textContent.includes('Tagged')")
    assert page.inner_text("#selection-note") == "Tagged 4 photos “sunset”"
    tagged = in_db(lambda: sorted(PhotoTag.objects.filter(tag__name="sunset", state="accepted").values_list("photo__title", flat=True)))
    assert tagged == ["Photo 2", "Photo 3", "Photo 5", "Photo 6"]

    page.select_option("#bulk-target", label="Best of")
    page.click("#bulk-copy")
    wait_until(page, "document.getElementById('selection-note').textContent.startsWith('Added')")
    assert page.inner_text("#selection-note") == "Added 4 photos to Best of"

    page.click("#bulk-delete")
    assert "Remove 4 photos from “Coast”?" in page.inner_text("#confirm-delete")
    page.click("#confirm-delete button[value=cancel]")
    assert in_db(lambda: Photo.objects.filter(collection=library).count()) == 40  # cancelled: nothing gone
    page.click("#bulk-delete")
    page.click("#confirm-delete button[value=delete]")
    wait_until(page, "document.getElementById('selection-note').textContent.startsWith('Deleted')")
    assert page.inner_text("#photo-count") == "36 photos" and tiles.count() == 36
    assert in_db(lambda: Photo.objects.filter(collection=library).count()) == 36

    page.click("#select-all")
    assert page.inner_text("#selection-count") == "36 selected"
    page.keyboard.press("Escape")
    assert page.locator("#selection-bar").is_hidden()
    page.close()
