"""Search that means what it shows, in headless Chromium: a minus term removes its matches (keyword
hits too), pages never repeat a photo and come in the order of the score shown, and a photo chosen
with the file picker is searched by, shown, and put in the URL while the text box clears."""
import pytest

from tests.frontend.ui import VIEWPORTS, assert_no_sideways_scroll, browser_user, doc_screenshot, give_thumbnails, wait_until
from tests.helpers import image_bytes
from tests.platform.services import browser, log_in, web_server  # noqa: F401  (fixtures)
from tests.platform.test_search import SMALL, add_photos, encode, random_vectors, unit

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shapes(make_user, settings, monkeypatch, tmp_path):
    from atelier.library.models import Collection, Photo

    monkeypatch.setenv("ATELIER_CLIP_MODEL", SMALL)  # read by the Daphne process
    monkeypatch.setenv("ATELIER_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ATELIER_SEARCH_MIN_SCORE", "0.75")
    user = browser_user(make_user, settings, "maria")
    mine = Collection.objects.create(owner=user, name="Shapes")
    red, circle, square = encode("red", "circle", "square")
    ids = add_photos(mine, [unit(red + circle), unit(red + circle + 0.1 * square), unit(red + square),
                            *random_vectors(80, seed=45, around=unit(red + square), spread=0.6)],
                     titles=["2 red circles", "a red one", "red square", *[f"shape {i}" for i in range(80)]])
    give_thumbnails(Photo.objects.filter(pk__in=ids))
    Photo.objects.filter(pk__in=ids).update(thumbs_ready=True)
    return ids


def results(page):
    return page.eval_on_selector_all("#search-results .result", """els => els.map(e => ({
        id: e.dataset.photo, title: e.querySelector('a').title, score: +e.querySelector('.score').textContent}))""")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_minus_term_and_three_pages_in_score_order(shapes, web_server, browser, size):
    page = browser.new_page(viewport=VIEWPORTS[size])
    log_in(page, web_server.url, "maria")
    page.goto(f"{web_server.url}/search/?q=red+-circle")
    page.wait_for_selector("#search-results .result")
    shown = results(page)
    assert not any("circle" in r["title"] for r in shown)
    assert str(shapes[0]) not in {r["id"] for r in shown} and str(shapes[1]) not in {r["id"] for r in shown}  # the pictures of circles too
    assert str(shapes[2]) in {r["id"] for r in shown}
    assert_no_sideways_scroll(page)

    page.goto(f"{web_server.url}/search/?q=red+square")
    page.wait_for_selector("#search-results .result")
    for pages in (2, 3):
        page.click("#search-more")
        wait_until(page, f"document.querySelectorAll('#search-results .result').length >= {20 * pages}")
    shown = results(page)
    assert len(shown) >= 60 and len({r["id"] for r in shown}) == len(shown), "a photo came twice"
    scores = [r["score"] for r in shown]
    assert scores == sorted(scores, reverse=True), "the order contradicts the score shown"
    assert "ranked" in page.get_attribute("#search-results .result .score", "title")
    page.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_search_by_a_photo_from_the_file_picker(shapes, web_server, browser, tmp_path, size):
    picked = tmp_path / "pick.png"
    picked.write_bytes(image_bytes("PNG", size=(96, 96), color=(200, 30, 30)))
    page = browser.new_page(viewport=VIEWPORTS[size])
    log_in(page, web_server.url, "maria")
    page.goto(f"{web_server.url}/search/?q=red+square")
    page.wait_for_selector("#search-results .result")
    page.set_input_files("#image-input", str(picked))
    page.wait_for_selector("h1:has-text('Photos like pick.png')")
    wait_until(page, "document.querySelector('#query-image img').naturalWidth > 0")
    assert page.is_visible("#query-image") and "image=pick.png" in page.url and "q=" not in page.url
    assert page.input_value(".topbar input[name=q]") == ""
    assert not page.is_visible("#search-more")
    assert page.locator("#search-results .result").count() > 0
    assert_no_sideways_scroll(page)
    doc_screenshot(page, f"search-by-photo-{size}")
    page.close()
