"""The search results page (server-rendered first page; search.js adds more pages, drag-and-drop
image search, and the chips' links)."""
from django.http import Http404
from django.shortcuts import render

from atelier.library.image_gate import stored_extensions
from atelier.library.models import Photo
from atelier.library.permissions import visible_collections
from atelier.tagging.selectors import tag_chips
from atelier.search.params import search_kwargs
from atelier.search.services import SearchError, SearchNotFound, SearchUnavailable, search_photos


def search_page(request):
    q = request.GET.get("q", "")
    similar = request.GET.get("similar", "")
    context = {"q": q, "similar": similar, "results": None, "error": None,
               "collections": visible_collections(request.user).order_by("name")[:200],
               "formats": stored_extensions(), "params": request.GET,
               "selected_collections": request.GET.getlist("collection"), "chosen_tags": request.GET.getlist("tag")}
    context["tag_chips"] = tag_chips(photos=Photo.objects.filter(collection__in=visible_collections(request.user)))
    if q.strip() or similar:
        try:
            query = {"similar_to": _photo_id(similar)} if similar else {"text": q}
            context["results"] = search_photos(user=request.user, **query, **search_kwargs(request.GET))
        except SearchNotFound as exc:
            raise Http404(str(exc)) from None
        except (SearchError, SearchUnavailable) as exc:
            context["error"] = str(exc)
    return render(request, "search/results.html", context, status=400 if context["error"] and q.strip() else 200)


def _photo_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SearchNotFound("no such photo") from None
