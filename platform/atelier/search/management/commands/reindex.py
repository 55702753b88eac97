"""`manage.py reindex [--queue]`: build and publish a search index snapshot now."""
from django.core.management.base import BaseCommand, CommandError

from atelier.embeddings.services import model_status
from atelier.search.indexing import build_and_publish, request_index_build
from ml_core.index import RecallNotMet


class Command(BaseCommand):
    help = ("Build the configured model's search index snapshot from the stored embeddings, measure its "
            "recall and publish it (web processes switch to it on their next refresh). Re-run it at will: "
            "an interrupted build publishes nothing and the previous snapshot keeps serving.")

    def add_arguments(self, parser):
        parser.add_argument("--queue", action="store_true", help="queue a build job on a `gpu` worker instead")
        parser.add_argument("--model", help="model id (default: the configured CLIP model's)")

    def handle(self, *args, queue, model, **options):
        model_id = model or self._model_id()
        if queue:
            job_id = request_index_build(model_id=model_id, reason="manage.py reindex")
            self.stdout.write(f"build job {job_id} queued for {model_id}")
            return
        self.stdout.write(f"building the search index of {model_id} ...")
        try:
            manifest = build_and_publish(model_id)
        except RecallNotMet as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"published {manifest.name}: {manifest.plan.describe()} nprobe {manifest.nprobe}, "
                          f"{manifest.count} photos, recall@10 {manifest.recall_at_10:.3f}, built in {manifest.build_s:.1f} s")

    @staticmethod
    def _model_id() -> str:
        status = model_status()
        if not status.ready:
            raise CommandError(f"the CLIP model is not ready: {status.message}")
        return status.model_id
