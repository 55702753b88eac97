"""`manage.py restore FOLDER`: a backup into an empty database (docs/operations.md)."""
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from atelier.core.backup import BackupError, do_restore


class Command(BaseCommand):
    help = "Restore a backup made by `backup` into an empty database (migrated first) and MEDIA_ROOT."

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)

    def handle(self, *args, folder, **options):
        call_command("migrate", verbosity=0)
        try:
            with tqdm(desc="originals", unit="file", disable=options["verbosity"] < 1) as bar:
                restored = do_restore(folder=folder, progress=bar.update)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"restored {restored}; rebuild the caches with `atelier thumbnails --missing` "
                          "(the search index rebuilds itself from the embeddings)")
