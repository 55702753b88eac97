"""The review queue by mouse and touch: readable tag names, accept/reject buttons on each suggestion,
a bulk accept that says beforehand what it would take, counts that follow without a reload."""
import pytest

from atelier.tagging.models import PhotoTag
from tests.frontend.ui import VIEWPORTS, assert_no_sideways_scroll, doc_screenshot, give_thumbnails, in_db, wait_until
from tests.platform.services import browser, log_in, web_server  # noqa: F401  (fixtures)
from tests.platform.test_tagging_browser import scored  # noqa: F401  (fixture: 6 scored photos, rita's "Shapes")

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue(scored):
    give_thumbnails(scored.photos.all())
    scored.photos.update(thumbs_ready=True)
    return scored


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_accept_and_reject_by_click_and_bulk_accept_preview(queue, web_server, browser, size):
    scored = queue
    page = browser.new_page(viewport=VIEWPORTS[size])
    log_in(page, web_server.url, "rita")
    page.goto(f"{web_server.url}/collections/{scored.pk}/review/")
    wait_until(page, "document.querySelectorAll('.review-tile').length === 6")
    assert_no_sideways_scroll(page)

    # Each card shows its whole tag name, readable (not squeezed into a sliver beside the picture).
    first, second = page.locator(".review-tile").nth(0), page.locator(".review-tile").nth(1)
    name = first.locator(".tag-name")
    assert name.inner_text() in {"red", "green", "blue"} and name.bounding_box()["width"] >= 20
    assert first.bounding_box()["width"] >= 140
    suggested_before = int(page.get_attribute(f"#review-tag option[value='{first.get_attribute('data-tag')}']", "data-suggested"))

    first.get_by_role("button", name="Accept").click()
    page.wait_for_selector(".review-tile[data-index='0'].state-accepted")
    assert first.locator(".tag-state").inner_text() == "accepted"
    option = page.locator(f"#review-tag option[value='{first.get_attribute('data-tag')}']")
    wait_until(page, f"document.querySelector(\"#review-tag option[value='{first.get_attribute('data-tag')}']\").dataset.suggested == {suggested_before - 1}")
    assert f"({suggested_before - 1})" in option.inner_text()  # the count followed, no reload

    second.get_by_role("button", name="Reject").click()
    page.wait_for_selector(".review-tile[data-index='1'].state-rejected")
    assert second.locator(".tag-state").inner_text() == "rejected"
    assert second.get_by_role("button", name="Reject").get_attribute("aria-pressed") == "true"
    doc_screenshot(page, f"review-{size}")

    # Bulk accept says how many before the click, and says so when none qualify.
    page.fill("#bulk-min", "0.999")
    wait_until(page, "document.getElementById('bulk-accept').disabled")
    assert "None qualifies: the highest confidence is" in page.inner_text("#bulk-note")
    page.fill("#bulk-min", "0")
    wait_until(page, "document.getElementById('bulk-accept').dataset.count === '4'")
    assert page.inner_text("#bulk-accept") == "Accept 4"
    page.click("#bulk-accept")
    wait_until(page, "document.querySelectorAll('.review-tile.state-accepted').length === 5")
    wait_until(page, "document.getElementById('bulk-note').textContent.startsWith('Nothing to accept')")
    assert all(o.endswith("(0)") for o in page.eval_on_selector_all("#review-tag option[data-name]", "os => os.map(o => o.textContent)"))
    page.close()
    assert in_db(lambda: PhotoTag.objects.filter(state="accepted").count()) == 5
    assert in_db(lambda: PhotoTag.objects.filter(state="rejected").count()) == 1


def test_a_late_answer_to_an_older_bulk_preview_never_overwrites_the_newer(queue, web_server, browser):
    """A decision asks for a bulk preview at the old confidence; the person then types a new one.
    Whichever answer arrives last, the button and the note show the newer question's answer."""
    page = browser.new_page(viewport=VIEWPORTS["desktop"])
    log_in(page, web_server.url, "rita")
    page.goto(f"{web_server.url}/collections/{queue.pk}/review/")
    wait_until(page, "document.querySelectorAll('.review-tile').length === 6")
    held = []  # answers to older previews, let through only after the newer one is shown

    def hold_older_previews(route):
        if "min_confidence=" in route.request.url and "min_confidence=0.999" not in route.request.url:
            held.append(route)
        else:
            route.continue_()

    page.route("**/suggestions/**", hold_older_previews)
    page.locator(".review-tile").nth(1).get_by_role("button", name="Reject").click()
    page.wait_for_selector(".review-tile[data-index='1'].state-rejected")
    for _ in range(400):  # the route handler runs as the page's events are processed
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1, "the decision asked for a preview at the old confidence"
    page.fill("#bulk-min", "0.999")
    wait_until(page, "document.getElementById('bulk-accept').disabled")
    with page.expect_response(lambda response: response.request.url == held[0].request.url):
        held[0].continue_()
    page.evaluate("() => new Promise((done) => setTimeout(done, 100))")  # the late answer's handler has run
    assert page.evaluate("document.getElementById('bulk-accept').disabled")
    assert "None qualifies" in page.inner_text("#bulk-note")
    page.close()
