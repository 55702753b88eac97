"""Pages: the review grid for collection admins, and the collection's tags with counts."""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from atelier.library import selectors as library_selectors
from atelier.library.permissions import can_admin
from atelier.tagging import selectors


def _collection(request, collection_id):
    collection = library_selectors.access_collection(user=request.user, collection_id=collection_id)
    if collection is None:
        raise Http404("no such collection")
    return collection


@login_required
def review_page(request, collection_id: int):
    collection = _collection(request, collection_id)
    if not can_admin(request.user, collection):
        raise PermissionDenied("only collection admins review tags")
    tags = selectors.tag_counts(collection=collection)
    return render(request, "tagging/review.html", {"collection": collection, "tags": tags,
                                                   "tag_id": request.GET.get("tag", "")})


def tags_page(request, collection_id: int):
    collection = _collection(request, collection_id)
    return render(request, "tagging/tags.html", {"collection": collection, "tags": selectors.tag_counts(collection=collection),
                                                 "can_admin": can_admin(request.user, collection)})
