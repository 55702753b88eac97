"""`python manage.py demo --port 8000`: the embedded default, in one command (`make demo`)."""
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from atelier.core import demo
from atelier.embeddings.services import model_status, start_missing_embeddings
from atelier.jobs.runner import resume_unfinished_jobs


class Command(BaseCommand):
    help = "Prepare the demo (database, user, collection) and serve Atelier on 127.0.0.1."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--scenes", type=int, default=300, help="size of the demo collection")
        parser.add_argument("--no-serve", action="store_true", help="prepare only")

    def handle(self, *args, port, scenes, no_serve, **options):
        if not settings.DEMO_MODE:
            raise CommandError("the demo runs only with ATELIER_MODE=demo (use `make demo`)")
        call_command("migrate", interactive=False, verbosity=0)
        resumed = resume_unfinished_jobs()  # jobs a previous run left behind
        user = demo.ensure_demo_user()
        collection, job_id = demo.ensure_demo_collection(user, count=scenes)
        embed_jobs = start_missing_embeddings()  # first start, or ATELIER_CLIP_MODEL changed
        self.stdout.write(self.style.SUCCESS(
            f"\n  Atelier demo at http://127.0.0.1:{port}/  —  log in as `{demo.DEMO_USER}` / password `{demo.DEMO_PASSWORD}` (demo mode only)\n"
            f"  Collection “{collection.name}”: {collection.photos.count()} photos"
            + (f", processing in job {job_id} (see /jobs/)" if job_id else "")
            + (f"; resumed {resumed} unfinished job(s)" if resumed else "")
            + (f"; embedding in job(s) {embed_jobs}" if embed_jobs else "") + "\n"))
        if not model_status().ready:
            self.stdout.write(self.style.WARNING(f"  Search is off until the CLIP model is ready: {model_status().message}\n"))
        if not no_serve:
            # Daphne's runserver: ASGI, so websockets (live progress) work; the in-process worker
            # threads run inside this process.
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
