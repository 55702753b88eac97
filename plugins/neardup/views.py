"""The near-duplicates page: the latest scan's result (or its progress); editors start a new scan."""
from django.http import Http404
from django.shortcuts import redirect, render

from atelier.plugin_api import InvalidInput, PermissionDenied, Photo, access_collection, can_edit
from plugins.neardup import services


def groups_page(request, collection_id: int):
    collection = access_collection(user=request.user, collection_id=collection_id)
    if collection is None:
        raise Http404("no such collection")
    error, threshold = None, request.POST.get("threshold", request.GET.get("threshold", services.default_threshold()))
    try:
        threshold = services.check_threshold(threshold)
        if request.method == "POST":
            services.start_scan(user=request.user, collection=collection, threshold=threshold)
            return redirect("neardup:groups", collection_id=collection.pk)
    except (InvalidInput, PermissionDenied) as exc:
        error = str(exc)
    scan = services.latest_scan(collection)
    groups = scan.groups if scan and scan.groups else []
    photos = Photo.objects.in_bulk([pid for g in groups for pid in g])
    return render(request, "neardup/groups.html", {
        "collection": collection, "threshold": threshold, "error": error, "scan": scan,
        "can_scan": can_edit(request.user, collection),
        "groups": [[photos[pid] for pid in g if pid in photos] for g in groups],
    }, status=400 if error else 200)
