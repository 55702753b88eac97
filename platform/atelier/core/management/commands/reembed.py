"""`manage.py reembed`: embed every photo that lacks the configured model's vector (after a model change)."""
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from atelier.embeddings.services import model_status, start_missing_embeddings
from atelier.jobs.models import Job


class Command(BaseCommand):
    help = "Start embedding jobs for every collection with photos lacking the current CLIP model's vectors."

    def add_arguments(self, parser):
        parser.add_argument("--wait", action="store_true", help="follow the jobs until they finish")

    def handle(self, *args, wait=False, **options):
        status = model_status()
        if not status.ready:
            raise CommandError(f"the CLIP model is not ready: {status.message}")
        job_ids = start_missing_embeddings()
        self.stdout.write(f"{len(job_ids)} embedding job(s) for {status.model_id}: {job_ids}")
        if wait and job_ids:
            self._follow(job_ids)

    def _follow(self, job_ids):
        jobs = Job.objects.filter(pk__in=job_ids)
        with tqdm(total=sum(j.total for j in jobs), unit="photo") as bar:
            while True:
                done = sum(j.done for j in jobs.all())
                bar.update(done - bar.n)
                if all(j.is_finished for j in jobs.all()):
                    break
                time.sleep(1)
        failed = [j for j in jobs.all() if j.state != Job.State.SUCCEEDED]
        if failed:
            raise CommandError(f"jobs that did not succeed: {[(j.pk, j.state, j.error) for j in failed]}")
