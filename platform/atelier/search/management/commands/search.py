"""`manage.py search "TEXT" --user U [--limit N]`: the search service from the command line."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from atelier.search.services import SearchError, SearchNotFound, SearchUnavailable, search_photos


class Command(BaseCommand):
    help = "Search photos by text as a given user (what that user may view), best first."

    def add_arguments(self, parser):
        parser.add_argument("text")
        parser.add_argument("--user", required=True, help="username whose permissions apply")
        parser.add_argument("--limit", type=int, default=20)
        parser.add_argument("--collection", type=int, action="append", help="only this collection (repeatable)")

    def handle(self, *args, text, user, limit, collection, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"no user {user!r}")
        try:
            results = search_photos(user=account, text=text, limit=limit, collections=collection)
        except (SearchError, SearchNotFound, SearchUnavailable) as exc:
            raise CommandError(str(exc)) from None
        if results.no_good_match:
            self.stdout.write(f"no good match for {text!r}: {results.no_good_match_reason}")
            return
        rows = [(str(h.photo.pk), f"{h.score:.3f}" + (" *" if h.keyword else ""), str(h.photo.collection_id),
                 h.photo.title or h.photo.filename) for h in results.hits]
        self._table(("id", "score", "collection", "title"), rows)
        self.stdout.write(f"{len(rows)} results in {results.took_ms:.1f} ms (model {results.model_id}"
                          f"{f', {results.duplicates} duplicates collapsed' if results.duplicates else ''}; * = words matched)")

    def _table(self, header, rows):
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, tuple("-" * w for w in widths), *rows]:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
