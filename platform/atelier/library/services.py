"""Writes to collections and members (`check_*` validates permissions, then writes)."""
from django.db import IntegrityError, transaction

from atelier.core.validation import InvalidInput, clean_text  # InvalidInput: re-exported, one for all apps
from atelier.library import permissions
from atelier.library.ingest import do_delete_photo
from atelier.library.models import Collection, Invitation, Membership, Photo


class PermissionDenied(Exception):
    pass




def do_create_collection(*, owner, name: str, description: str = "", visibility: str = "private") -> Collection:
    name = clean_text(name or "", "name").strip()
    description = clean_text(description or "", "description")
    if not name:
        raise InvalidInput("name: a collection needs a name")
    if visibility not in Collection.Visibility.values:
        raise InvalidInput(f"visibility: must be one of {', '.join(Collection.Visibility.values)}")
    try:
        with transaction.atomic():
            return Collection.objects.create(owner=owner, name=name[:200], description=description, visibility=visibility)
    except IntegrityError:
        raise InvalidInput(f"name: you already have a collection named {name!r}") from None


def check_update_collection(*, user, collection: Collection, **fields) -> Collection:
    if not permissions.can_admin(user, collection):
        raise PermissionDenied("only the collection's admins may change it")
    if "visibility" in fields and fields["visibility"] not in Collection.Visibility.values:
        raise InvalidInput(f"visibility: must be one of {', '.join(Collection.Visibility.values)}")
    for name in ("name", "description", "visibility"):
        if name in fields:
            setattr(collection, name, clean_text(fields[name], name))
    try:
        with transaction.atomic():
            collection.save()
    except IntegrityError:
        raise InvalidInput("name: you already have a collection with that name") from None
    return collection


def check_delete_collection(*, user, collection: Collection) -> None:
    if not permissions.can_delete_collection(user, collection):
        raise PermissionDenied("only the owner may delete a collection")
    with transaction.atomic():
        for photo in collection.photos.all():
            do_delete_photo(photo=photo)
        collection.delete()


def check_set_member(*, user, collection: Collection, username: str, role: str) -> str:
    """Changes a member's role, or invites `username` (they join on accepting): "member" or "invited".
    The answer never depends on whether such an account exists, and nobody is added without consent."""
    if not permissions.can_admin(user, collection):
        raise PermissionDenied("only the collection's admins may manage members")
    if role not in Membership.Role.values:
        raise InvalidInput(f"role: must be one of {', '.join(Membership.Role.values)}")
    username = clean_text(username, "username", max_length=150, required=True).strip()
    if username == collection.owner.username:
        raise InvalidInput("username: the owner is not a member")
    if Membership.objects.filter(collection=collection, user__username=username).update(role=role):
        return "member"
    Invitation.objects.update_or_create(collection=collection, username=username,
                                        defaults={"role": role, "invited_by": user})
    return "invited"


def check_remove_member(*, user, collection: Collection, username: str) -> None:
    """Removes a member, or withdraws an invitation."""
    if not permissions.can_admin(user, collection):
        raise PermissionDenied("only the collection's admins may manage members")
    clean_text(username, "username")
    Membership.objects.filter(collection=collection, user__username=username).delete()
    Invitation.objects.filter(collection=collection, username=username).delete()


def check_update_photo(*, user, photo: Photo, title: str | None = None, caption: str | None = None) -> Photo:
    if not permissions.can_edit(user, photo.collection):
        raise PermissionDenied("only the collection's editors may change its photos")
    if title is not None:
        photo.title = clean_text(title, "title")[:300]
    if caption is not None:
        photo.caption = clean_text(caption, "caption")
    photo.save(update_fields=["title", "caption"])
    return photo


def check_delete_photo(*, user, photo: Photo) -> None:
    if not permissions.can_edit(user, photo.collection):
        raise PermissionDenied("only the collection's editors may delete its photos")
    with transaction.atomic():
        do_delete_photo(photo=photo)
