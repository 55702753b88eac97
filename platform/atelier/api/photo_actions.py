"""The bulk actions of POST /api/photos/bulk/, each a call to the service that owns it."""
from rest_framework.exceptions import NotFound

from atelier.library import bulk, selectors
from atelier.tagging import services as tagging


def run(*, user, photos, action: str, tag: str = "", collection: int | None = None, **_) -> dict:
    if action == "add_tag":
        return {"tagged": tagging.check_tag_photos(user=user, photos=photos, name=tag)}
    if action == "remove_tag":
        return {"untagged": tagging.check_untag_photos(user=user, photos=photos, name=tag)}
    if action == "copy_to":
        target = selectors.access_collection(user=user, collection_id=collection)
        if target is None:
            raise NotFound("no such collection")
        return bulk.check_copy_photos(user=user, photos=photos, target=target)
    return {"deleted": bulk.check_delete_photos(user=user, photos=photos)}
