"""The platform's one CLIP engine: the index learns its dimension without loading a model, and a
text search and the worker share one engine."""
import pytest

from atelier.embeddings import services as embedding_services
from atelier.search import index_service as index_module
from atelier.search.index_service import IndexService, model_dim
from ml_core.clip import factory

pytestmark = pytest.mark.django_db
SMALL = "random:atelier-demo-clip"


@pytest.fixture
def engines_built(settings, tmp_path, monkeypatch):
    """Every engine created from now on (the per-process cache starts empty)."""
    settings.VAR_DIR = tmp_path / "var"
    settings.ATELIER_SEARCH_REFRESH_S = 0.0
    embedding_services._status.cache_clear()
    index_module.reset_index_services()
    factory.clear_engines()
    built = []
    real = factory.create_engine
    monkeypatch.setattr(factory, "create_engine", lambda *a, **k: built.append(a) or real(*a, **k))
    yield built
    index_module.reset_index_services()
    factory.clear_engines()


@pytest.mark.parametrize("spec, dim", [(SMALL, 128), ("random:ViT-B-32", 512)])
def test_an_empty_index_gets_the_configured_dimension_without_building_an_engine(settings, engines_built, spec, dim):
    settings.ATELIER_CLIP_MODEL = spec
    model_id = embedding_services.model_status().model_id
    index = IndexService(model_id).get()
    assert (len(index), index.dim, model_dim(model_id)) == (0, dim, dim)
    assert engines_built == [], "no model is loaded for the index's dimension"


def test_search_and_the_worker_share_one_engine(settings, engines_built, owner, collection):
    from atelier.search.services import search_photos

    settings.ATELIER_CLIP_MODEL = SMALL
    search_photos(user=owner, text="a red circle")
    assert len(engines_built) == 1, "the text query was encoded"
    assert embedding_services.worker_engine() is embedding_services.worker_engine()
    model_dim(SMALL)
    assert len(engines_built) == 1
