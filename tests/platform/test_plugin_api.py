"""The published plugin API: bundled plugins use atelier.plugin_api and nothing else of the core."""
from pathlib import Path

import pytest

from atelier import plugin_api
from tests.test_architecture import imported_modules

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def test_bundled_plugins_import_nothing_of_the_core_but_the_plugin_api():
    offenders = [f"{path.relative_to(PLUGINS.parent)} imports {module}"
                 for path in sorted(PLUGINS.rglob("*.py"))
                 for module in imported_modules(path)
                 if (module == "atelier" or module.startswith("atelier.")) and not module.startswith("atelier.plugin_api")]
    assert offenders == []


@pytest.mark.parametrize("name", plugin_api.__all__)
def test_every_published_name_resolves(name):
    assert getattr(plugin_api, name) is not None


def test_an_unpublished_name_is_refused_with_the_list_of_published_ones():
    with pytest.raises(AttributeError, match="plugins may use only .*hookimpl"):
        plugin_api.Embedding   # noqa: B018
