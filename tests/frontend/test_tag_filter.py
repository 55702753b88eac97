"""Tag chips with counts filter the timeline and the search page; the filter lives in the URL."""
import pytest

from atelier.library.models import Collection, Photo
from atelier.tagging.models import PhotoTag, Tag, Vocabulary
from tests.frontend.ui import VIEWPORTS, assert_no_sideways_scroll, browser_user, open_timeline, seed_photos, wait_until
from tests.platform.services import browser, web_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]
LONG_TAG = "a very long tag name that would push every other chip off a phone screen"


@pytest.fixture
def tagged(make_user, settings):
    ivy = browser_user(make_user, settings, "ivy")
    collection = Collection.objects.create(owner=ivy, name="Walks " * 30)
    seed_photos(collection, 20)
    vocab = Vocabulary.objects.create(collection=collection, name="scenes")
    dog, sea, long = (Tag.objects.create(vocabulary=vocab, name=n) for n in ("dog", "sea", LONG_TAG))
    photos = list(Photo.objects.filter(collection=collection).order_by("taken_at"))
    for i, photo in enumerate(photos):
        if i % 4 == 0:
            PhotoTag.objects.create(photo=photo, tag=dog, state="accepted", source="person")
        if i % 5 == 0:
            PhotoTag.objects.create(photo=photo, tag=sea, state="suggested")  # suggested: not counted
    PhotoTag.objects.create(photo=photos[1], tag=long, state="accepted", source="person")
    return collection


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_tag_chip_filters_the_timeline_and_stays_in_the_url(tagged, web_server, browser, size):
    page = open_timeline(browser, web_server.url, "ivy", tagged, size)
    chips = page.locator("#tag-chips .tag-chip")
    assert [c.text_content().split() for c in chips.all()][:1] == [["dog", "5"]]
    assert chips.count() == 2  # dog and the long one; "sea" is only suggested
    assert_no_sideways_scroll(page)  # long names truncate, chips wrap
    assert chips.nth(1).bounding_box()["width"] <= VIEWPORTS[size]["width"]

    chips.first.click()
    wait_until(page, "document.getElementById('photo-count').textContent === '5 photos'")
    assert "tag=dog" in page.url
    assert page.locator("#photo-grid .tile").count() == 5
    page.reload()  # the filter is in the URL: a reload or a shared link shows the same
    page.wait_for_selector("body[data-timeline=ready]")
    assert page.inner_text("#photo-count") == "5 photos" and page.is_checked("#tag-chips input[value=dog]")
    chips.first.click()
    wait_until(page, "document.getElementById('photo-count').textContent === '20 photos'")

    # The search page offers the same chips; Filter keeps them.
    page.goto(f"{web_server.url}/search/?q=anything&tag=dog")
    assert page.is_checked("#search-filters input[name=tag][value=dog]")
    page.click("#search-filters button[type=submit]")
    page.wait_for_load_state()
    assert "tag=dog" in page.url
    assert_no_sideways_scroll(page)
    page.close()
