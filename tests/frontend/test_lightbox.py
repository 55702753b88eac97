"""The lightbox: ←/→ through the timeline, Esc back, facts, tags with their source, tags and title by hand."""
import pytest

from atelier.library.models import Collection, Photo
from atelier.tagging.models import PhotoTag, Tag, Vocabulary
from tests.frontend.ui import VIEWPORTS, assert_no_sideways_scroll, browser_user, doc_screenshot, in_db, open_timeline, seed_photos, wait_until
from tests.platform.services import browser, web_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def album(make_user, settings):
    lea = browser_user(make_user, settings, "lea")
    collection = Collection.objects.create(owner=lea, name="Harbour")
    rows = seed_photos(collection, 12)
    photo3 = Photo.objects.get(collection=collection, title="Photo 3")
    Photo.objects.filter(pk=photo3.pk).update(caption="Boats at the pier")
    tag = Tag.objects.create(vocabulary=Vocabulary.objects.create(collection=collection, name="scenes"), name="boats")
    PhotoTag.objects.create(photo=photo3, tag=tag, state="accepted", source="zero-shot", confidence=0.8)
    return collection, rows


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_arrows_walk_the_timeline_and_the_panel_edits_in_place(album, web_server, browser, size):
    collection, _ = album
    page = open_timeline(browser, web_server.url, "lea", collection, size)
    page.locator('#photo-grid .tile[title="Photo 3"] a').click()
    box = page.locator("#lightbox")
    page.wait_for_selector("#lightbox[open] #lightbox-panel[data-ready]")
    assert page.input_value("#lightbox-panel .title-edit") == "Photo 3"
    assert page.inner_text("#lightbox-position") == "3 of 12"
    panel = page.inner_text("#lightbox-panel")
    assert "Taken" in panel and "96 × 96 · JPG" in panel
    assert page.locator("#lightbox-panel .photo-tag").first.text_content().startswith("boats (zero-shot, accepted)")
    assert page.input_value("#lightbox-panel .caption-edit") == "Boats at the pier"
    assert panel.count("Boats at the pier") <= 1  # the caption is not printed twice
    image = page.locator("#lightbox-image").bounding_box()
    assert image["width"] <= VIEWPORTS[size]["width"] and image["height"] <= VIEWPORTS[size]["height"]

    page.keyboard.press("ArrowRight")
    wait_until(page, "document.getElementById('lightbox-position').textContent === '4 of 12'")
    page.wait_for_selector("#lightbox-panel[data-ready]")
    wait_until(page, "document.querySelector('#lightbox-panel .title-edit')?.value === 'Photo 4'")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    wait_until(page, "document.getElementById('lightbox-position').textContent === '2 of 12'")
    wait_until(page, "document.querySelector('#lightbox-panel .title-edit')?.value === 'Photo 2'")
    assert "/collections/" in page.url  # still the list underneath

    # Tags and title by hand.
    page.fill("#lightbox-panel .tag-adder input", "harbour")
    page.click("#lightbox-panel .tag-adder button")
    page.wait_for_selector("#lightbox-panel .photo-tag:has-text('harbour')")
    assert "harbour (by hand)" in page.locator("#lightbox-panel .photo-tags").text_content()
    page.fill("#lightbox-panel .title-edit", "Harbour at dawn")
    page.locator("#lightbox-panel .title-edit").press("Tab")
    wait_until(page, "document.querySelector('#lightbox-panel .save-note').textContent === 'Title saved'")
    assert in_db(lambda: Photo.objects.get(collection=collection, filename="IMG_00002.jpg").title) == "Harbour at dawn"
    page.locator("#lightbox-image").click()  # focus back on the picture: arrows move again
    doc_screenshot(page, f"lightbox-{size}")
    page.keyboard.press("Escape")
    wait_until(page, "!document.getElementById('lightbox').open")
    assert page.locator("#photo-grid .tile").nth(1).get_attribute("title") == "Harbour at dawn"
    assert_no_sideways_scroll(page)
    page.close()
