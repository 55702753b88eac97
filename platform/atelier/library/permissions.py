"""Who may do what with a collection. Every view, API endpoint, websocket and file response asks here.

Roles, weakest first: viewer < editor (adds/edits photos) < admin (members, tags) < owner.
Staff act as admins everywhere. Visibility grants viewing: `public` to anyone, `shared` to every
signed-in user, `private` to the owner and members only.
"""
from django.db.models import Q

from atelier.library.models import Collection, Membership

RANK = {"viewer": 1, "editor": 2, "admin": 3, "owner": 4}


def collection_role(user, collection: Collection) -> str | None:
    if user is not None and user.is_authenticated:
        if collection.owner_id == user.pk:
            return "owner"
        if user.is_staff:
            return "admin"
        role = Membership.objects.filter(collection=collection, user=user).values_list("role", flat=True).first()
        if role:
            return role
        if collection.visibility == Collection.Visibility.SHARED:
            return "viewer"
    if collection.visibility == Collection.Visibility.PUBLIC:
        return "viewer"
    return None


def has_role(user, collection: Collection, needed: str) -> bool:
    role = collection_role(user, collection)
    return role is not None and RANK[role] >= RANK[needed]


def can_view(user, collection) -> bool:
    return has_role(user, collection, "viewer")


def can_edit(user, collection) -> bool:
    return has_role(user, collection, "editor")


def can_admin(user, collection) -> bool:
    return has_role(user, collection, "admin")


def can_delete_collection(user, collection) -> bool:
    return has_role(user, collection, "owner") or bool(user and user.is_authenticated and user.is_staff)


def visible_collections(user):
    """Collections the user may view, as one query (used to filter photos, search and jobs)."""
    public = Q(visibility=Collection.Visibility.PUBLIC)
    if user is None or not user.is_authenticated:
        return Collection.objects.filter(public)
    if user.is_staff:
        return Collection.objects.all()
    return Collection.objects.filter(
        public | Q(visibility=Collection.Visibility.SHARED) | Q(owner=user) | Q(memberships__user=user)
    ).distinct()
