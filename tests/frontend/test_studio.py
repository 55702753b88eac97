"""The creation studio end to end in headless Chromium: generate from a prompt, watch candidates
stream in and get ranked, save two to a collection, find them by search, see their provenance."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from atelier.library.models import Collection
from tests.frontend.ui import VIEWPORTS, assert_no_sideways_scroll, doc_screenshot, wait_until
from tests.platform.services import WebServer, browser, log_in, require_services  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]
PROMPT = "a red circle on the left"

# Records the candidate grid's size each time it changes, and whether it was ranked then.
WATCH_GRID = """() => {
  window.gridHistory = [];
  const grid = document.getElementById('candidates');
  new MutationObserver(() => window.gridHistory.push({
    n: grid.querySelectorAll('.candidate').length,
    ranked: document.getElementById('current').dataset.ranked === '1'})).observe(grid, {childList: true});
}"""


@pytest.fixture
def cora(make_user, settings):
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    user = make_user("cora", password="s3cret-pass")
    Collection.objects.create(owner=user, name="Creations")
    Collection.objects.create(owner=user, name="Another")  # first by name: "Save to" must not fall back to it
    return user


@pytest.fixture
def studio_server(tmp_path, settings):
    require_services()
    # The product's sampling defaults: 16 candidates arrive in 4 scored batches of 4 (stream_batches).
    # Candidates of one prompt may look alike to CLIP: search's near-duplicate collapsing (tested
    # with the search) would fold the two saved images into one hit, so it is off here.
    # One torch thread: two spinning threads on a busy 2-core machine made sampling ~10x slower.
    server = WebServer(tmp_path, ATELIER_TASKS_MODE="thread", ATELIER_SEARCH_DUPLICATE_COSINE="1.01",
                       ATELIER_TORCH_THREADS="1").start()
    yield server
    server.stop()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_generate_stream_rank_save_and_find_by_search(cora, studio_server, browser, size):
    page = browser.new_page(viewport=VIEWPORTS[size])
    log_in(page, studio_server.url, "cora")
    if size == "phone":
        page.click("#menu-button")   # the top bar folds into a menu
    page.click("nav >> text=Studio")
    page.wait_for_selector("#studio-form")
    assert "min-dalle" in page.inner_text(".backend-status li.not-ready")
    page.evaluate(WATCH_GRID)
    page.fill("#prompt", PROMPT)
    page.fill("input[name=candidates]", "16")
    page.fill("input[name=keep]", "4")
    page.fill("input[name=seed]", "3")
    page.click("#generate")
    page.wait_for_selector("#current[data-ranked='1']", timeout=300_000)

    # The grid grew batch by batch (4, 8, 12, 16 as each batch was scored), never shrinking, and
    # showed at least two partial grids before the end; ranking then only reorders it.
    history = page.evaluate("window.gridHistory")
    sampling = [h["n"] for h in history if not h["ranked"]]
    assert sampling == sorted(sampling), history
    assert {n for n in sampling if n} <= {4, 8, 12, 16}, history
    assert len({n for n in sampling if 0 < n < 16}) >= 2, history
    assert page.locator(".candidate").count() == 16
    ranks = page.locator(".candidate .rank:not([hidden])").all_inner_texts()
    assert ranks == ["1", "2", "3", "4"]                                    # best first, top 4 marked
    scores = [float(s) for s in page.eval_on_selector_all(".candidate", "els => els.map(e => e.dataset.score)")]
    assert scores == sorted(scores, reverse=True)
    assert page.locator(".candidate.dropped").count() == 12
    assert_no_sideways_scroll(page)
    if size == "phone":   # the results sit under the form
        page.eval_on_selector("#current", "el => scrollTo(0, el.getBoundingClientRect().top + scrollY - 64)")
    doc_screenshot(page, f"studio-{size}")

    page.locator(".candidate").nth(0).click()
    page.locator(".candidate").nth(1).click()
    page.select_option("#save-collection", label="Creations")
    page.click("#save-selected")
    wait_until(page, "document.querySelectorAll('#save-result a.saved-photo').length === 2")
    saved_captions = [page.locator(".candidate").nth(i).locator(".score").inner_text() for i in (0, 1)]  # "#i · CLIP 0.405"
    photo_ids = [int(h.rsplit("/", 2)[-2]) for h in page.eval_on_selector_all("#save-result a.saved-photo", "els => els.map(e => e.getAttribute('href'))")]
    page.wait_for_selector(".candidate.saved >> nth=1")
    assert page.locator("#history li").count() == 1                         # the finished generation

    # Saved images are photos like any other: processed, embedded, and found by searching the prompt.
    found = set()
    for _ in range(60):
        page.goto(f"{studio_server.url}/search/?q={PROMPT.replace(' ', '+')}")
        found = {int(x) for x in page.eval_on_selector_all("#search-results .result", "els => els.map(e => e.dataset.photo)")}
        if set(photo_ids) <= found:
            break
        page.wait_for_timeout(1000)
    assert set(photo_ids) <= found, (photo_ids, found)

    page.goto(f"{studio_server.url}/plugins/generation/")
    assert page.locator("#save-collection option:checked").inner_text() == "Creations"  # remembered
    page.goto(f"{studio_server.url}/photos/{photo_ids[0]}/")
    assert PROMPT in page.inner_text("#provenance .provenance-prompt")
    score = page.inner_text("#provenance .provenance-score").split()[0]
    assert any(c.endswith(f"CLIP {score}") for c in saved_captions), (saved_captions, score)  # one score, one name
    assert_no_sideways_scroll(page)  # the provenance card wraps
    page.click("#provenance >> text=Open in the studio")          # restores every parameter
    page.wait_for_selector("#current[data-ranked='1']")
    assert page.input_value("#prompt") == PROMPT
    assert (page.input_value("input[name=seed]"), page.input_value("input[name=candidates]")) == ("3", "16")
    page.close()

    def saved_titles():
        from django.db import connection

        try:
            return list(Collection.objects.get(name="Creations").photos.values_list("title", flat=True))
        finally:
            connection.close()   # or the test database cannot be dropped

    with ThreadPoolExecutor(1) as pool:   # the database, from a thread without Playwright's event loop
        assert pool.submit(saved_titles).result() == [PROMPT, PROMPT]
