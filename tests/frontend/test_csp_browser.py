"""In headless Chromium: Atelier's pages (and the API docs) work under the Content-Security-Policy,
which blocks inline code: no page reports a policy violation, and their scripts run."""
import pytest

from tests.platform.services import browser, log_in, web_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

WATCH = """() => { window.__csp = []; document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); }"""


@pytest.fixture
def paula(make_user, settings):
    from django.conf import global_settings

    from atelier.library.models import Collection

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    user = make_user("paula", password="s3cret-pass")
    return Collection.objects.create(owner=user, name="Walls")


def test_pages_run_under_the_csp_without_violations(paula, web_server, browser):
    page = browser.new_page(bypass_csp=False)  # the policy enforced, as for visitors
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(f"({WATCH})()")
    log_in(page, web_server.url, "paula")
    c = paula.pk
    for path, ready in [("/collections/", "body[data-socket=open]"), (f"/collections/{c}/", "#photo-grid"),
                        ("/search/?q=red", "main"), ("/jobs/", "#jobs-table"), (f"/collections/{c}/tags/", "main"),
                        ("/plugins/generation/", "main"), (f"/plugins/neardup/collections/{c}/", "#no-scan"),
                        ("/api/docs/", ".swagger-ui .info")]:  # Swagger UI renders: its start script ran
        page.goto(web_server.url + path)
        page.wait_for_selector(ready, state="attached")
        page.wait_for_load_state("networkidle")
        found = page.evaluate("window.__csp")
        assert not found, f"{path}: {found}"
    assert not violations, violations
