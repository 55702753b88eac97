"""Web pages of the library: thin views over selectors and services."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from atelier.library import invitations, permissions, selectors, services
from atelier.library.models import Collection, Membership
from atelier.pluginhost.manager import page_panels
from atelier.tagging.selectors import tag_chips


TIMELINE_SORTS = [("taken", "Date taken"), ("added", "Date added"), ("title", "Title")]


def home(request):
    return redirect("collections" if request.user.is_authenticated else "login")


def collections(request):
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect("login")
        try:
            collection = services.do_create_collection(owner=request.user, name=request.POST.get("name", ""),
                                                       description=request.POST.get("description", ""),
                                                       visibility=request.POST.get("visibility", "private"))
            return redirect("collection", collection_id=collection.pk)
        except services.InvalidInput as exc:
            messages.error(request, str(exc))
    visible = permissions.visible_collections(request.user).annotate(photo_count=Count("photos", distinct=True)).order_by("name")
    return render(request, "library/collections.html", {"collections": visible, "visibilities": Collection.Visibility.choices,
                                                        "invitations": invitations.invitations_for(request.user)})


def collection(request, collection_id: int):
    found = selectors.access_collection(user=request.user, collection_id=collection_id)
    if found is None:
        raise Http404("no such collection")
    role = permissions.collection_role(request.user, found)
    admin = permissions.can_admin(request.user, found)
    members = found.memberships.select_related("user") if admin else None
    context = {
        "collection": found, "role": role, "sorts": TIMELINE_SORTS, "members": members, "roles": Membership.Role.values,
        "invitations": found.invitations.all() if admin else None,
        "editable_collections": [c for c in selectors.collections_editable_by(request.user) if c.pk != found.pk],
        "tag_chips": tag_chips(photos=found.photos.all()), "chosen_tags": request.GET.getlist("tag"),
        "can_edit": permissions.can_edit(request.user, found), "can_admin": permissions.can_admin(request.user, found),
    }
    context["plugin_panels"] = page_panels("collection", request, context)
    return render(request, "library/collection.html", context)


@login_required
def timeline(request):
    """Every photo the user may view, as one date-grouped timeline (filled by timeline.js)."""
    return render(request, "library/timeline.html", {
        "sorts": TIMELINE_SORTS, "editable_collections": selectors.collections_editable_by(request.user),
        "tag_chips": tag_chips(photos=selectors.photos_visible_to(request.user)), "chosen_tags": request.GET.getlist("tag")})


@login_required
@require_POST
def collection_member(request, collection_id: int):
    found = selectors.access_collection(user=request.user, collection_id=collection_id)
    if found is None:
        raise Http404("no such collection")
    try:
        if request.POST.get("remove"):
            services.check_remove_member(user=request.user, collection=found, username=request.POST["remove"])
        else:
            username, role = request.POST.get("username", "").strip(), request.POST.get("role", "viewer")
            state = services.check_set_member(user=request.user, collection=found, username=username, role=role)
            messages.success(request, f"{username} is now {role}." if state == "member" else
                             f"Invited {username} as {role}: they join once they accept.")
    except (services.InvalidInput, services.PermissionDenied) as exc:
        messages.error(request, str(exc))
    return redirect("collection", collection_id=found.pk)


@login_required
@require_POST
def invitation_answer(request, invitation_id: int):
    """Join (POST answer=accept) or decline an invitation addressed to you; others' answer 404."""
    found = invitations.access_invitation(user=request.user, invitation_id=invitation_id) or _no_such("invitation")
    if request.POST.get("answer") == "accept":
        invitations.do_accept_invitation(user=request.user, invitation=found)
        return redirect("collection", collection_id=found.collection_id)
    invitations.do_decline_invitation(invitation=found)
    return redirect("collections")


def _no_such(what: str):
    raise Http404(f"no such {what}")


def photo(request, photo_id: int):
    found = selectors.access_photo(user=request.user, photo_id=photo_id)
    if found is None:
        raise Http404("no such photo")
    context = {"photo": found, "can_edit": permissions.can_edit(request.user, found.collection)}
    context["plugin_panels"] = page_panels("photo", request, context)
    return render(request, "library/photo.html", context)
