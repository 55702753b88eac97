"""Review page end to end in headless Chromium: keyboard accept/reject, undo, bulk accept."""
import pytest

from atelier.embeddings import services as embedding_services
from atelier.library.models import Collection
from atelier.tagging import services
from atelier.tagging.models import PhotoTag
from tests.platform.services import browser, log_in, web_server  # noqa: F401  (fixtures)
from tests.platform.test_tagging import COLOURS, SMALL, add_photos, near, tag_vectors

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scored(make_user, settings):
    """Made before the browser starts (Playwright's loop refuses Django database calls in this thread)."""
    import numpy as np
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    settings.ATELIER_CLIP_MODEL = SMALL
    embedding_services._status.cache_clear()
    rita = make_user("rita", password="s3cret-pass")
    collection = Collection.objects.create(owner=rita, name="Shapes")
    m = tag_vectors(COLOURS)
    rng = np.random.default_rng(0)
    add_photos(collection, [near(m[i % 3], rng, noise=0.05 * (1 + i)) for i in range(6)])
    vocab = services.do_create_vocabulary(user=rita, collection=collection, name="colour", mode="exclusive",
                                          tags=COLOURS, min_probability=0.0)
    services.score_vocabulary(vocabulary=vocab, collection=collection, model_id=SMALL)
    return collection


def test_review_keyboard_undo_and_bulk_accept(scored, web_server, browser):
    page = browser.new_page()
    log_in(page, web_server.url, "rita")
    page.goto(f"{web_server.url}/collections/{scored.pk}/review/")
    page.wait_for_function("document.querySelectorAll('.review-tile').length === 6")
    page.keyboard.press("a")
    page.wait_for_selector(".review-tile[data-index='0'].state-accepted")
    page.wait_for_selector(".review-tile[data-index='1'].current")
    page.keyboard.press("r")
    page.wait_for_selector(".review-tile[data-index='1'].state-rejected")
    page.keyboard.press("u")
    page.wait_for_selector(".review-tile[data-index='1'].state-suggested.current")  # undo goes back to it
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(".review-tile[data-index='0'].current")
    page.fill("#bulk-min", "0")
    page.click("#bulk-accept")
    page.wait_for_function("document.querySelectorAll('.review-tile.state-accepted').length === 6")
    page.close()
    from concurrent.futures import ThreadPoolExecutor  # the database from a thread without Playwright's loop

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lambda: PhotoTag.objects.filter(state="accepted").count()).result() == 6
