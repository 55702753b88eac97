"""`manage.py backup FOLDER`: database dump + originals + manifest (docs/operations.md)."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from atelier.core.backup import BackupError, do_backup


class Command(BaseCommand):
    help = "Back up the database and the originals into a new folder (the index and thumbnails are caches)."

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)

    def handle(self, *args, folder, **options):
        try:
            with tqdm(desc="originals", unit="file", disable=options["verbosity"] < 1) as bar:
                manifest = do_backup(folder=folder, progress=bar.update)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"backed up {manifest['counts']} and {manifest['originals']['files']} originals into {folder}")
