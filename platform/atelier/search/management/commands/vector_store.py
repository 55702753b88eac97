"""`manage.py vector_store --to pgvector|faiss`: move an install's search vectors between the stores.

PhotoEmbedding rows stay the truth in both, so moving is copying: to pgvector, every stored vector
is copied into the `pgvectors_photovector` table (batches with a progress bar; interrupt and re-run
at will, it continues above the copied watermark) and the model's HNSW index is created; to faiss, a
snapshot is built and published. Then set ATELIER_VECTOR_STORE and restart the web processes.
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from atelier.search.index_service import embedding_rows
from atelier.search.management.commands.reindex import Command as Reindex


class Command(BaseCommand):
    help = "Copy the stored embeddings into the other vector store (pgvector or faiss)."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, choices=["pgvector", "faiss"])
        parser.add_argument("--model", help="model id (default: the configured CLIP model's)")
        parser.add_argument("--drop-pgvector", action="store_true",
                            help="with --to faiss: delete the model's rows from the pgvector table afterwards")

    def handle(self, *args, to, model, drop_pgvector, **options):
        model_id = model or Reindex._model_id()
        if to == "pgvector":
            self._to_pgvector(model_id)
        else:
            self._to_faiss(model_id, drop_pgvector)

    def _to_pgvector(self, model_id: str) -> None:
        if "atelier.pgvectors" not in settings.INSTALLED_APPS:
            raise CommandError("run this with ATELIER_VECTOR_STORE=pgvector (and `manage.py migrate` first): "
                               "the pgvectors app and its table exist only then")
        from atelier.pgvectors.service import sync_rows
        from atelier.pgvectors.store import PgVectorStore
        from atelier.search.index_service import model_dim

        store = PgVectorStore(model_id, model_dim(model_id))
        store.ensure_index()  # before the copy: a test's (or caller's) open transaction cannot index after writes
        total = embedding_rows(model_id).count()
        with tqdm(total=total, unit="vectors", disable=None) as bar:
            while copied := sync_rows(model_id, store, limit=20_000):
                bar.update(copied)
        self.stdout.write(f"{len(store)} vectors of {model_id} in pgvector ({store.index_name}); "
                          "set ATELIER_VECTOR_STORE=pgvector and restart the web processes")

    def _to_faiss(self, model_id: str, drop: bool) -> None:
        from atelier.search.indexing import build_and_publish

        manifest = build_and_publish(model_id)
        self.stdout.write(f"published {manifest.plan.describe()} over {manifest.count} vectors, recall@10 "
                          f"{manifest.recall_at_10:.3f}; set ATELIER_VECTOR_STORE=faiss and restart the web processes")
        if drop and "atelier.pgvectors" in settings.INSTALLED_APPS:
            from atelier.pgvectors.models import PhotoVector, SyncState

            PhotoVector.objects.filter(model_id=model_id).delete()
            SyncState.objects.filter(model_id=model_id).delete()
