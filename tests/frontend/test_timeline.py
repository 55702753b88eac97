"""The timeline in headless Chromium: 10,500 photos, the 10,000th reached by scrolling and by the
month index, at desktop and phone sizes."""
import pytest

from atelier.library.models import Collection
from tests.frontend.ui import assert_no_sideways_scroll, browser_user, doc_screenshot, open_timeline, seed_photos, wait_until
from tests.platform.services import browser, web_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
N = 10_500
TARGET = "Photo 10000"  # the 10,000th photo, newest first (one an hour back from 2026-11-30 18:00 UTC)


@pytest.fixture
def big_collection(make_user, settings):
    vera = browser_user(make_user, settings, "vera")
    collection = Collection.objects.create(owner=vera, name="Ten thousand and more")
    rows = seed_photos(collection, N)
    return collection, rows[9999]


def scroll_until(page, tile, *, pages: int) -> None:
    """Scrolls to the bottom like a reader, each time waiting for the next page, until `tile` is there."""
    for _ in range(pages):
        if tile.count():
            break
        loaded = int(page.get_attribute("#photo-grid", "data-loaded") or 0)
        for attempt in range(6):  # a reader scrolls again when nothing comes; so does this test
            page.keyboard.press("End")
            try:
                wait_until(page, f"+document.getElementById('photo-grid').dataset.loaded > {loaded}", timeout=15_000)
                break
            except TimeoutError:
                if attempt == 5:
                    raise
                page.mouse.wheel(0, -400)
    tile.scroll_into_view_if_needed()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_tenth_thousand_photo_by_scrolling_and_by_the_month_index(big_collection, web_server, browser, size):
    collection, target = big_collection
    page = open_timeline(browser, web_server.url, "vera", collection, size)
    assert page.inner_text("#photo-count") == "10,500 photos"
    first = page.locator("#photo-grid .tile").first
    assert first.get_attribute("title") == "Photo 1"
    assert "November 30, 2026" in page.locator(".day-group h2").first.inner_text()  # grouped by the day taken
    assert_no_sideways_scroll(page)
    doc_screenshot(page, f"timeline-{size}")

    # Scrolling: every page after the first arrives by infinite scroll, none repeats a photo.
    tile = page.locator(f'#photo-grid .tile[title="{TARGET}"]')
    scroll_until(page, tile, pages=40)
    assert tile.is_visible() and tile.get_attribute("data-index") == "9999"
    ids = page.eval_on_selector_all("#photo-grid .tile", "ts => ts.map(t => t.dataset.photo)")
    assert len(ids) == len(set(ids)) >= 10_000

    # The month index: one click, then the photo is a short scroll away.
    page.goto(f"{web_server.url}/collections/{collection.pk}/")
    page.wait_for_selector("body[data-timeline=ready]")
    month = target.taken_at.strftime("%Y-%m")
    page.click(f'#month-index button[data-month="{month}"]')
    wait_until(page, f"document.querySelector('#photo-grid .tile')?.title !== 'Photo 1'")
    assert page.locator(f'#month-index button[data-month="{month}"]').get_attribute("aria-current") == "true"
    assert f"month={month}" in page.url  # shareable: a reload starts at the same month
    newest_of_month = page.locator("#photo-grid .tile").first.get_attribute("title")
    assert int(newest_of_month.split()[1]) < 10_000 < int(newest_of_month.split()[1]) + 800
    scroll_until(page, tile, pages=5)
    assert tile.is_visible()
    assert_no_sideways_scroll(page)
    page.reload()
    page.wait_for_selector("body[data-timeline=ready]")
    assert page.locator("#photo-grid .tile").first.get_attribute("title") == newest_of_month
    page.close()
