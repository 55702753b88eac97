"""The plugin host: discovery, clashes, every hook, and the bundled near-duplicates plugin."""
import ast
import io
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from atelier.pluginhost import discovery, hookspecs, manager
from atelier.pluginhost.hookspecs import hookimpl
from atelier.jobs.runner import job_task, Step
from tests.helpers import api_for, image_bytes

REPO = Path(__file__).resolve().parents[2]
from plugins.generation import hookspecs as generation_hookspecs  # noqa: E402

SPECS = (hookspecs, generation_hookspecs)   # the core's hooks, and the ones a plugin publishes
HOOKS = [(specs, name) for specs in SPECS for name in dir(specs) if hasattr(getattr(specs, name), "atelier_spec")]


def write_plugin(root: Path, folder: str, body: str):
    (root / folder).mkdir(parents=True)
    (root / folder / "__init__.py").write_text("")
    (root / folder / "plugin.py").write_text(textwrap.dedent(body))


# -- discovery ----------------------------------------------------------------------------------
def test_bundled_plugins_are_found_and_installed():
    assert sorted(p.name for p in django_settings.ATELIER_PLUGINS.loaded) == ["generation", "neardup"]
    assert {"plugins.neardup", "plugins.generation"} <= set(django_settings.INSTALLED_APPS)


def test_broken_incompatible_duplicate_and_disabled_plugins_are_reported_not_fatal(tmp_path, monkeypatch):
    root = tmp_path / "pkgs"
    plugins_dir = root / "plugins"
    ok = "from atelier.pluginhost.discovery import PluginInfo\nPLUGIN = PluginInfo(name='{n}', version='1', api_version={v}, app='plugins.{f}')\n"
    write_plugin(plugins_dir, "good", ok.format(n="good", v=1, f="good"))
    write_plugin(plugins_dir, "old", ok.format(n="old", v=0, f="old"))
    write_plugin(plugins_dir, "twin", ok.format(n="good", v=1, f="twin"))
    write_plugin(plugins_dir, "off", ok.format(n="off", v=1, f="off"))
    write_plugin(plugins_dir, "broken", "raise RuntimeError('boom at import')\n")
    (plugins_dir / "__init__.py").write_text("")
    monkeypatch.setattr(sys, "path", [str(root)] + sys.path)
    for name in [m for m in sys.modules if m == "plugins" or m.startswith("plugins.")]:
        monkeypatch.delitem(sys.modules, name)
    found = discovery.discover(plugins_dir, disabled={"off"})
    assert [p.name for p in found.loaded] == ["good"]
    assert found.disabled == ["off"]
    problems = dict(found.problems)
    assert "boom at import" in problems["folder plugins/broken"]
    assert "needs Atelier plugin API 0" in problems["old"]
    assert "already loaded" in problems["good"]


def test_entry_point_plugins_are_found(tmp_path, monkeypatch):
    (tmp_path / "thirdparty").mkdir()
    (tmp_path / "thirdparty" / "__init__.py").write_text("")
    (tmp_path / "thirdparty" / "decl.py").write_text(
        "from atelier.pluginhost.discovery import PluginInfo\nPLUGIN = PluginInfo(name='third', version='2', api_version=1, app='thirdparty')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from importlib.metadata import EntryPoint

    monkeypatch.setattr(discovery, "entry_points", lambda group: [EntryPoint("third", "thirdparty.decl", group)] if group == discovery.ENTRY_POINT_GROUP else [])
    found = discovery.discover(tmp_path / "none", disabled=set())
    assert [(p.name, p.app) for p in found.loaded] == [("third", "thirdparty")]


def test_plugin_settings_come_from_env_with_defaults(monkeypatch):
    from plugins.neardup.plugin import PLUGIN

    assert discovery.plugin_setting(PLUGIN, "threshold") == 0.95
    monkeypatch.setenv("ATELIER_PLUGIN_NEARDUP_THRESHOLD", "0.9")
    assert discovery.plugin_setting(PLUGIN, "threshold") == 0.9


def test_a_setting_whose_default_is_none_keeps_the_value_and_a_bool_default_parses_it(monkeypatch):
    info = discovery.PluginInfo(name="probe", version="1", api_version=1, app="probe",
                                settings={"weights": None, "enabled": False, "batch": 16})
    assert discovery.plugin_setting(info, "weights") is None
    monkeypatch.setenv("ATELIER_PLUGIN_PROBE_WEIGHTS", "/models/min-dalle")
    monkeypatch.setenv("ATELIER_PLUGIN_PROBE_ENABLED", "Yes")
    monkeypatch.setenv("ATELIER_PLUGIN_PROBE_BATCH", "4")
    assert discovery.plugin_setting(info, "weights") == "/models/min-dalle"
    assert discovery.plugin_setting(info, "enabled") is True and discovery.plugin_setting(info, "batch") == 4


@pytest.mark.django_db
def test_staff_page_lists_plugins_and_problems(client, make_user, monkeypatch):
    monkeypatch.setattr(django_settings.ATELIER_PLUGINS, "problems", [("shiny", "needs Atelier plugin API 7, this Atelier has 1")])
    client.force_login(make_user("root", staff=True))
    page = client.get("/admin/plugins/").content.decode()
    assert 'data-plugin="neardup" data-state="loaded"' in page and "needs Atelier plugin API 7" in page
    client.force_login(make_user("plain"))
    assert client.get("/admin/plugins/").status_code == 302  # to the admin login


# -- each hook -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_register_nav_items_appear_in_the_top_bar(client, owner, extra_plugin):
    class Nav:
        @hookimpl
        def register_nav_items(self):
            return [{"label": "Darkroom", "url": "/plugins/darkroom/", "order": 5}]

    extra_plugin(Nav(), "nav-test")
    client.force_login(owner)
    assert '<a href="/plugins/darkroom/">Darkroom</a>' in client.get("/collections/").content.decode()


@pytest.mark.django_db
def test_extra_page_panels_show_on_collection_pages(client, owner, collection):
    client.force_login(owner)
    page = client.get(f"/collections/{collection.pk}/").content.decode()
    assert f'href="/plugins/neardup/collections/{collection.pk}/"' in page


def test_register_job_tasks_refuses_clashes_and_unknown_queues(extra_plugin):
    good = job_task(kind="tests.plugin_job", queue="io")(lambda job, deadline: Step(1, 1, False))
    clash = job_task(kind="process_photos_copy", queue="io")(lambda job, deadline: Step(1, 1, False))
    clash.kind = "process_photos"
    bad_queue = job_task(kind="tests.plugin_bad_queue", queue="io")(lambda job, deadline: Step(1, 1, False))
    bad_queue.queue_name = "turbo"

    class Jobs:
        @hookimpl
        def register_job_tasks(self):
            return [good, clash, bad_queue]

    extra_plugin(Jobs(), "jobs-test")
    tasks = manager.job_tasks()
    assert {k: v for k, v in tasks.items() if k.startswith("tests.")} == {"tests.plugin_job": good}
    assert tasks["process_photos"] is not clash and tasks["process_photos"].name == "atelier.process_photos"   # the core's wins
    assert tasks["generate"].queue_name == "gpu"   # the bundled generation plugin's


@pytest.mark.django_db
def test_photos_created_photos_embedded_photos_deleted_reach_plugins(owner, collection, settings, extra_plugin, django_capture_on_commit_callbacks):
    from atelier.embeddings import services as embedding_services
    from atelier.library.ingest import do_ingest_files
    from atelier.library.services import check_delete_photo
    from atelier.library.models import Photo

    settings.ATELIER_CLIP_MODEL = "random:atelier-demo-clip"
    embedding_services._status.cache_clear()
    seen = []

    class Events:
        @hookimpl
        def photos_created(self, photo_ids):
            seen.append(("created", photo_ids))

        @hookimpl
        def photos_embedded(self, photo_ids, model_id):
            seen.append(("embedded", photo_ids, model_id))

        @hookimpl
        def photos_deleted(self, photo_ids):
            seen.append(("deleted", photo_ids))
            raise RuntimeError("a broken plugin must not break deletion")

    extra_plugin(Events(), "events-test")
    with django_capture_on_commit_callbacks(execute=True):
        report = do_ingest_files(collection=collection, user=owner, files=[("a.png", io.BytesIO(image_bytes("PNG")))])
    photo_id = report.created[0]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        check_delete_photo(user=owner, photo=Photo.objects.get(pk=photo_id))
    assert seen == [("created", [photo_id]), ("embedded", [photo_id], "random:atelier-demo-clip"), ("deleted", [photo_id])]


@pytest.mark.django_db
def test_job_finished_reaches_plugins_for_success_failure_and_cancel(owner, extra_plugin, django_capture_on_commit_callbacks):
    from atelier.jobs import services as jobs

    seen = []

    class Listener:
        @hookimpl
        def job_finished(self, job_id, kind, state, owner_id):
            seen.append((job_id, kind, state, owner_id))

    extra_plugin(Listener(), "job-listener")
    with django_capture_on_commit_callbacks(execute=True):
        a, b, c = (jobs.create_job(owner=owner, kind=f"tests.kind{i}") for i in range(3))
        jobs.do_finish_job(job_id=a.pk)
        jobs.do_fail_job(job_id=b.pk, error="boom")
        jobs.check_cancel_job(job=c, user=owner)
        jobs.do_finish_job(job_id=a.pk)   # already finished: no second event
    assert seen == [(a.pk, "tests.kind0", "succeeded", owner.pk), (b.pk, "tests.kind1", "failed", owner.pk),
                    (c.pk, "tests.kind2", "cancelled", owner.pk)]


def test_register_search_filters_keeps_the_first_of_a_clash(extra_plugin):
    def first(qs, value):
        return qs

    class A:
        @hookimpl
        def register_search_filters(self):
            return {"camera": first}

    class B:
        @hookimpl
        def register_search_filters(self):
            return {"camera": lambda qs, value: qs.none()}

    extra_plugin(A(), "filters-a")
    extra_plugin(B(), "filters-b")
    filters = manager.search_filters()
    assert "camera" in filters and len([k for k in filters if k == "camera"]) == 1


def test_register_generation_backends_by_unique_name(extra_plugin):
    class Backend:
        def __init__(self, name):
            self.name = name

    class Gen:
        @hookimpl
        def register_generation_backends(self):
            return [Backend("tiny"), Backend("tiny"), Backend("big")]

    first_tiny = Backend("tiny")

    class First:
        @hookimpl
        def register_generation_backends(self):
            return [first_tiny]

    extra_plugin(Gen(), "gen-test")
    extra_plugin(First(), "gen-first")   # registered last, called first by pluggy
    from plugins.generation.services import backends

    found = backends()
    assert {"big", "tiny", "atelier-dalle", "min-dalle"} <= set(found)
    assert found["tiny"] is first_tiny


def test_register_hookspecs_lets_a_plugin_own_its_hooks_and_the_core_register_as_plugins():
    pm = manager.get_manager()
    assert "register_generation_backends" not in dir(hookspecs)   # the generation plugin's own hook
    assert pm.hook.register_generation_backends.spec.namespace is generation_hookspecs
    assert {"core.library", "core.search", "core.tagging"} <= {name for name, _ in pm.list_name_plugin()}
    assert {"process_photos", "embed_photos", "tag_photos", "generate"} <= set(manager.job_tasks())
    assert {"date_from", "date_to", "formats", "tags"} <= set(manager.search_filters())


# -- the near-duplicates plugin ------------------------------------------------------------------
@pytest.mark.django_db
def test_neardup_groups_near_identical_photos_and_checks_permissions(client, owner, collection, make_user, settings, django_capture_on_commit_callbacks):
    from atelier.embeddings import services as embedding_services
    from atelier.library.ingest import do_ingest_files

    settings.ATELIER_CLIP_MODEL = "random:atelier-demo-clip"
    embedding_services._status.cache_clear()
    files = [("red.png", image_bytes("PNG", size=(120, 120), color=(200, 30, 30))),
             ("red-copy.jpg", image_bytes("JPEG", size=(120, 120), color=(200, 30, 30), quality=95)),
             ("stripes.png", _stripes())]
    with django_capture_on_commit_callbacks(execute=True):
        report = do_ingest_files(collection=collection, user=owner, files=[(n, io.BytesIO(d)) for n, d in files])
    ids = {c["filename"]: c["id"] for c in report.created}
    from plugins.neardup.services import duplicate_groups

    # A random-weight model squeezes all images together: place the threshold between the copy's
    # similarity and the unrelated image's, from the stored vectors themselves.
    vid, vectors = embedding_services.stored_vectors("random:atelier-demo-clip")
    row = {pid: vectors[i] for i, pid in enumerate(vid.tolist())}
    same = float(row[ids["red.png"]] @ row[ids["red-copy.jpg"]])
    other = max(float(row[ids["stripes.png"]] @ row[ids[n]]) for n in ("red.png", "red-copy.jpg"))
    assert same > other
    threshold = round((same + other) / 2, 6)
    assert duplicate_groups(collection, threshold=threshold) == [sorted([ids["red.png"], ids["red-copy.jpg"]])]
    assert duplicate_groups(collection, threshold=min(other, same) - 1e-3) == [sorted(ids.values())]
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):  # the scan is a job, run here at commit
        client.post(f"/plugins/neardup/collections/{collection.pk}/", {"threshold": threshold})
    page = client.get(f"/plugins/neardup/collections/{collection.pk}/").content.decode()
    assert page.count('class="tile"') == 2
    client.force_login(make_user("eve"))
    assert client.get(f"/plugins/neardup/collections/{collection.pk}/").status_code == 404


def _stripes():
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (120, 120), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for x in range(0, 120, 12):
        draw.rectangle([x, 0, x + 5, 120], fill=(0, 90, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


# -- meta ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("specs, hook", HOOKS)
def test_every_hook_is_documented_and_tested(specs, hook):
    assert getattr(specs, hook).__doc__, f"{hook} has no docstring in {specs.__name__}"
    assert f"### {hook}\n" in (REPO / "docs" / "plugins.md").read_text(), f"{hook} has no section in docs/plugins.md"
    tests = [n.name for n in ast.walk(ast.parse(Path(__file__).read_text())) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert any(hook in name for name in tests), f"no test named after {hook}"
