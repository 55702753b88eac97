"""`manage.py index_status [--json]`: the served search index: plan, rows, delta, recall at build, age."""
import json

from django.core.management.base import BaseCommand

from atelier.search.indexing import index_status
from atelier.search.management.commands.reindex import Command as Reindex


class Command(BaseCommand):
    help = "Show the published search index snapshot, what was embedded or deleted since, and the last build error."

    def add_arguments(self, parser):
        parser.add_argument("--model", help="model id (default: the configured CLIP model's)")
        parser.add_argument("--json", action="store_true", help="one JSON object")

    def handle(self, *args, model, **options):
        report = index_status(model or Reindex._model_id())
        if options["json"]:
            self.stdout.write(_dumps(report))
            return
        for key in ("model_id", "store", "snapshot", "plan", "nprobe", "rows", "delta", "tombstones",
                    "recall_at_10", "recall_target", "age_s", "build_s", "root", "problem"):
            self.stdout.write(f"{key:>14}  {report[key] if report[key] is not None else '-'}")
        error = report["last_error"]
        self.stdout.write(f"{'last error':>14}  {error['error'] if error else '-'}")


def _dumps(report: dict) -> str:
    return json.dumps(report, default=str)
