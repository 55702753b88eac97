"""Every page at phone width (390 px) and on the desktop: nothing scrolls sideways, the top bar folds
into a menu on the phone, controls carry labels, the favicon answers."""
import pytest

from atelier.jobs.models import Job
from atelier.library.models import Collection
from tests.frontend.ui import VIEWPORTS, assert_no_sideways_scroll, browser_user, seed_photos
from tests.platform.services import browser, log_in, web_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]
LONG = "A collection with a very long name that goes on and on: Holidays in the mountains, summer 2026 and more"


@pytest.fixture
def library(make_user, settings):
    pia = browser_user(make_user, settings, "pia", staff=True)
    collection = Collection.objects.create(owner=pia, name=LONG, description="word " * 80)
    Collection.objects.create(owner=pia, name="Short")
    photos = seed_photos(collection, 30)
    Job.objects.create(kind="embed_photos", owner=pia, collection=collection, state="succeeded", total=30, done=30,
                       message="a long message " * 10)
    return collection, photos


def pages(collection, photos):
    c, p = collection.pk, photos[0].pk
    return ["/collections/", f"/collections/{c}/", "/photos/", f"/photos/{p}/", "/jobs/", "/search/?q=red",
            f"/collections/{c}/review/", f"/collections/{c}/tags/", "/plugins/generation/", f"/plugins/neardup/collections/{c}/",
            "/admin/plugins/", "/api/docs/"]


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => el.offsetParent !== null && !el.closest('.swagger-ui'))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
                && !(el.tagName === 'BUTTON' && el.textContent.trim()) && !el.title)
  .map(el => el.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_no_page_scrolls_sideways_and_every_control_is_labelled(library, web_server, browser, size):
    collection, photos = library
    page = browser.new_page(viewport=VIEWPORTS[size])
    log_in(page, web_server.url, "pia")
    problems = []
    for url in pages(collection, photos):
        response = page.goto(web_server.url + url)
        assert response.status == 200, url
        page.wait_for_load_state("networkidle")
        width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        if width[0] > width[1]:
            problems.append(f"{url}: {width[0]} px wide at {width[1]}")
        if url != "/api/docs/":
            unlabelled = page.evaluate(UNLABELLED)
            if unlabelled:
                problems.append(f"{url}: unlabelled {unlabelled}")
    assert not problems, "\n".join(problems)
    assert page.request.get(web_server.url + page.get_attribute("link[rel=icon]", "href")).status == 200
    page.close()


def test_choose_files_is_reached_with_tab(library, web_server, browser):
    collection, _ = library
    page = browser.new_page(viewport=VIEWPORTS["desktop"])
    log_in(page, web_server.url, "pia")
    page.goto(f"{web_server.url}/collections/{collection.pk}/")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file-input":
            break
    assert page.evaluate("document.activeElement.id") == "file-input"
    with page.expect_file_chooser() as chooser:  # Enter or Space on it opens the file picker
        page.keyboard.press("Space")
    assert chooser.value.is_multiple()
    page.close()


def test_phone_top_bar_folds_into_a_menu(library, web_server, browser):
    page = browser.new_page(viewport=VIEWPORTS["phone"])
    log_in(page, web_server.url, "pia")
    bar = page.locator("#topbar")
    assert bar.bounding_box()["height"] < 70  # one row: brand, search, Menu
    assert not page.get_by_role("link", name="Collections").is_visible()
    page.click("#menu-button")
    assert page.get_attribute("#menu-button", "aria-expanded") == "true"
    page.get_by_role("link", name="Jobs").click()
    page.wait_for_url("**/jobs/")
    assert_no_sideways_scroll(page)
    page.close()
