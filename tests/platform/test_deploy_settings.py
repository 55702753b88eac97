"""Issue 18, finding 6: production settings pass `check --deploy`, every page satisfies a strict
Content-Security-Policy (no inline script, handler or style), the embedded mode keeps its own secret
key under var/, and NUL bytes are refused in names."""
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.helpers import api_for, image_bytes

REPO = Path(__file__).resolve().parents[2]
OLD_HARD_CODED_KEY = "insecure-dev-key-only-for-embedded-mode"


def _manage(args, env, timeout=180):
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "ATELIER_MODE")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_check_deploy_is_clean_under_the_documented_production_settings(tmp_path):
    env = {"ATELIER_MODE": "production", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "photos.example.org",
           "ATELIER_TLS_PROXY": "1", "ATELIER_VAR_DIR": str(tmp_path)}
    done = _manage(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout, done.stdout


def test_tls_proxy_settings(settings, db):
    """What ATELIER_TLS_PROXY=1 turns on (read by settings.py; asserted here on a live request)."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    plain = Client().get("/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    behind_proxy = Client().get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert behind_proxy.status_code == 200
    assert "max-age=31536000" in behind_proxy["Strict-Transport-Security"]
    assert Client().get("/healthz").status_code in (200, 503)  # probes speak plain HTTP


@pytest.mark.slow
def test_embedded_mode_makes_and_keeps_its_own_secret_key(tmp_path):
    env = {"ATELIER_VAR_DIR": str(tmp_path)}
    show = ["shell", "-c", "from django.conf import settings; print('KEY=' + settings.SECRET_KEY)"]
    first = _manage(show, env)
    assert first.returncode == 0, first.stderr
    key = re.search(r"KEY=(\S+)", first.stdout).group(1)
    assert key != OLD_HARD_CODED_KEY and len(key) >= 50
    stored = tmp_path / "secret_key"
    assert stored.read_text().strip() == key and stored.stat().st_mode & 0o077 == 0
    second = _manage(show, env)
    assert re.search(r"KEY=(\S+)", second.stdout).group(1) == key


def test_production_still_refuses_to_start_without_a_key(tmp_path):
    done = _manage(["check"], {"ATELIER_MODE": "production", "ATELIER_VAR_DIR": str(tmp_path)}, timeout=120)
    assert done.returncode != 0 and "SECRET_KEY must be set" in done.stderr


# -- Content-Security-Policy ---------------------------------------------------------------------
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTR = re.compile(r"<[^>]+\sstyle\s*=", re.I)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.I)


def assert_csp_clean(response, url):
    assert response.has_header("Content-Security-Policy"), url
    policy = response["Content-Security-Policy"]
    directives = dict((d.split(" ", 1) + [""])[:2] for d in (p.strip() for p in policy.split(";")) if d)
    for name in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in directives[name] and "'unsafe-eval'" not in directives[name], policy
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    html = response.content.decode()
    for pattern in (INLINE_SCRIPT, HANDLER, STYLE_ATTR, STYLE_ELEMENT):
        found = pattern.search(html)
        assert found is None, f"{url}: {found.group(0)[:120]}"


@pytest.fixture
def site(make_user, collection, owner):
    from atelier.library.ingest import do_ingest_files

    import io
    staff = make_user("stella", staff=True)
    collection.visibility = "public"
    collection.save()
    report = do_ingest_files(collection=collection, user=owner, files=[("red.png", io.BytesIO(image_bytes("PNG")))])
    return {"owner": owner, "staff": staff, "collection": collection, "photo": report.created[0]["id"]}


def test_every_page_satisfies_the_csp_without_inline_code(site, settings):
    c, p = site["collection"].pk, site["photo"]
    pages = ["/collections/", f"/collections/{c}/", f"/photos/{p}/", "/search/", "/jobs/",
             f"/collections/{c}/tags/", f"/collections/{c}/review/", "/plugins/generation/",
             f"/plugins/neardup/collections/{c}/", "/api/docs/", "/admin/plugins/", "/admin/", "/no/such/page/"]
    staff = Client()
    staff.force_login(site["staff"])
    owner = Client()
    owner.force_login(site["owner"])
    for who, client, urls in (("anonymous", Client(), ["/login/", "/collections/", f"/collections/{c}/", "/search/",
                                                       "/no/such/page/"]),
                              ("owner", owner, pages[:-4] + ["/api/docs/", "/no/such/page/"]),
                              ("staff", staff, ["/admin/plugins/", "/admin/"])):
        for url in urls:
            response = client.get(url)
            assert response.status_code in (200, 404), f"{who} {url}: {response.status_code}"
            assert_csp_clean(response, f"{who} {url}")
    settings.DEBUG = True  # the demo's mode: its 404 page too
    assert_csp_clean(Client().get("/no/such/page/"), "debug 404")


def test_api_docs_load_their_start_script_from_a_url(client, owner):
    client.force_login(owner)
    page = client.get("/api/docs/").content.decode()
    script = re.findall(r'<script src="([^"]+)"', page)[-1]
    start = client.get(script.replace("&amp;", "&"))
    assert start.status_code == 200 and "SwaggerUIBundle" in start.content.decode()


# -- NUL bytes in names --------------------------------------------------------------------------
def test_nul_bytes_are_refused_in_names(owner, collection, client):
    api = api_for(owner)
    response = api.post("/api/collections/", {"name": "a\x00b"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["fields"]
    response = api.patch(f"/api/collections/{collection.pk}/", {"description": "x\x00"}, format="json")
    assert response.status_code == 400 and "description" in response.json()["fields"]
    response = api.post(f"/api/collections/{collection.pk}/members/", {"username": "ev\x00il", "role": "viewer"}, format="json")
    assert response.status_code == 400
    client.force_login(owner)
    response = client.post(f"/collections/{collection.pk}/tags/", {"name": "v\x00", "mode": "multi", "tags": "cat"})
    assert response.status_code == 400
    from atelier.library.models import Collection
    from atelier.tagging.models import Vocabulary

    assert not any("\x00" in c.name + c.description for c in Collection.objects.all())
    assert not Vocabulary.objects.exists()
