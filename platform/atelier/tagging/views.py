"""Pages: the review grid for collection admins, and the collection's tags with counts."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from atelier.library import selectors as library_selectors
from atelier.library.permissions import can_admin
from atelier.library.services import InvalidInput
from atelier.library.services import PermissionDenied as NotAllowed
from atelier.tagging import selectors, services
from ml_core.zeroshot.templates import TEMPLATE_SETS


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
                                                   "tag_id": request.GET.get("tag", ""),
                                                   "job_id": request.GET.get("job", "")})


def tags_page(request, collection_id: int):
    """The collection's tags with counts; admins also write a vocabulary here, which starts tagging."""
    collection = _collection(request, collection_id)
    admin = can_admin(request.user, collection)
    form = {"mode": "multi", "templates": "short"}
    if request.method == "POST":
        if not admin:
            raise PermissionDenied("only collection admins write vocabularies")
        form = {k: request.POST.get(k, "") for k in ("name", "mode", "tags", "templates")}
        try:
            vocabulary = services.do_create_vocabulary(
                user=request.user, collection=collection, name=form["name"], mode=form["mode"],
                templates=form["templates"] or None, tags=services.parse_tag_lines(form["tags"]))
            job = services.start_tagging_job(user=request.user, collection=collection)
        except (InvalidInput, NotAllowed) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Vocabulary “{vocabulary.name}” created: CLIP is scoring every photo against its tags.")
            return redirect(reverse("tagging-review", args=[collection.pk]) + (f"?job={job}" if job else ""))
    return render(request, "tagging/tags.html", {"collection": collection, "tags": selectors.tag_counts(collection=collection),
                                                 "can_admin": admin, "form": form,
                                                 "template_sets": tuple(TEMPLATE_SETS)})
