"""The invitee's side of invitations: the ones addressed to you, accepting and declining them."""
from django.db import transaction

from atelier.library.models import Invitation, Membership


def invitations_for(user):
    """Invitations addressed to the user's name, oldest first."""
    if user is None or not user.is_authenticated:
        return Invitation.objects.none()
    return Invitation.objects.filter(username=user.get_username()).select_related("collection__owner", "invited_by")


def access_invitation(*, user, invitation_id) -> Invitation | None:
    """The invitation if it is addressed to the user, else None (callers answer 404)."""
    return invitations_for(user).filter(pk=invitation_id).first()


def do_accept_invitation(*, user, invitation: Invitation) -> Membership:
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(collection=invitation.collection, user=user,
                                                            defaults={"role": invitation.role})
        invitation.delete()
    return membership


def do_decline_invitation(*, invitation: Invitation) -> None:
    invitation.delete()
