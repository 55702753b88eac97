"""Adding a member is an invitation: the answer never tells whether the account exists, and nobody
joins a collection without accepting."""
import pytest
from django.test import Client

from atelier.library.models import Invitation, Membership
from tests.helpers import api_for

pytestmark = pytest.mark.django_db


def invite(api, collection, username, role="viewer"):
    return api.post(f"/api/collections/{collection.pk}/members/", {"username": username, "role": role}, format="json")


def test_inviting_answers_the_same_for_existing_and_unknown_names(api, collection, make_user):
    make_user("vera")
    real, ghost = invite(api, collection, "vera"), invite(api, collection, "ghost")
    assert (real.status_code, ghost.status_code) == (202, 202)
    assert real.json() == {"username": "vera", "role": "viewer", "state": "invited"}
    assert ghost.json() == {"username": "ghost", "role": "viewer", "state": "invited"}
    pending = api.get(f"/api/collections/{collection.pk}/invitations/").json()
    assert [(i["username"], i["role"]) for i in pending] == [("vera", "viewer"), ("ghost", "viewer")]
    assert not Membership.objects.exists()


def test_the_invitee_joins_only_by_accepting(api, collection, make_user):
    vera, mallory = make_user("vera"), make_user("mallory")
    invite(api, collection, "vera", "editor")
    assert api_for(vera).get(f"/api/collections/{collection.pk}/").status_code == 404, "no access before accepting"
    mine = api_for(vera).get("/api/invitations/").json()
    assert [(i["collection"], i["collection_name"], i["owner"], i["role"], i["invited_by"]) for i in mine] == [
        (collection.pk, "Holidays", "olga", "editor", "olga")]
    assert api_for(mallory).get("/api/invitations/").json() == []
    assert api_for(mallory).post(f"/api/invitations/{mine[0]['id']}/accept/").status_code == 404
    assert api_for(vera).post(f"/api/invitations/{mine[0]['id']}/accept/").status_code == 200
    assert Membership.objects.get(collection=collection, user=vera).role == "editor"
    assert api_for(vera).get(f"/api/collections/{collection.pk}/").status_code == 200
    assert not Invitation.objects.exists()


def test_declining_and_withdrawing(api, collection, make_user):
    vera = make_user("vera")
    invite(api, collection, "vera")
    invitation = Invitation.objects.get()
    assert api_for(vera).post(f"/api/invitations/{invitation.pk}/decline/").status_code == 204
    assert not Invitation.objects.exists() and not Membership.objects.exists()
    invite(api, collection, "vera")
    assert api.delete(f"/api/collections/{collection.pk}/members/vera/").status_code == 204
    assert api_for(vera).get("/api/invitations/").json() == []


def test_web_pages_invite_and_join(owner, collection, make_user):
    vera = make_user("vera")
    admin_page = Client()
    admin_page.force_login(owner)
    page = admin_page.post(f"/collections/{collection.pk}/members/", {"username": "vera", "role": "editor"}, follow=True)
    assert b"Invited vera as editor: they join once they accept." in page.content
    assert b"vera" in page.content and b"(invited)" in page.content
    unknown = admin_page.post(f"/collections/{collection.pk}/members/", {"username": "ghost", "role": "editor"}, follow=True)
    assert b"Invited ghost as editor: they join once they accept." in unknown.content
    invitee = Client()
    invitee.force_login(vera)
    listing = invitee.get("/collections/")
    assert b'id="invitations"' in listing.content and b"Holidays" in listing.content
    invitation = Invitation.objects.get(username="vera")
    joined = invitee.post(f"/invitations/{invitation.pk}/", {"answer": "accept"})
    assert joined.status_code == 302 and joined["Location"] == f"/collections/{collection.pk}/"
    assert Membership.objects.get(user=vera).role == "editor"
    assert invitee.post(f"/invitations/{invitation.pk}/", {"answer": "accept"}).status_code == 404
