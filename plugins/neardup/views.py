from django.http import Http404
from django.shortcuts import render

from atelier.plugin_api import Photo, access_collection
from plugins.neardup.services import default_threshold, duplicate_groups


def groups_page(request, collection_id: int):
    collection = access_collection(user=request.user, collection_id=collection_id)
    if collection is None:
        raise Http404("no such collection")
    try:
        threshold = float(request.GET.get("threshold", default_threshold()))
    except ValueError:
        threshold = default_threshold()
    threshold = min(max(threshold, -1.0), 1.0)
    groups = duplicate_groups(collection, threshold=threshold)
    photos = Photo.objects.in_bulk([pid for g in groups for pid in g])
    return render(request, "neardup/groups.html", {
        "collection": collection, "threshold": threshold,
        "groups": [[photos[pid] for pid in g if pid in photos] for g in groups],
    })
