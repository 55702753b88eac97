"""Invitations API: the invitee lists, accepts and declines what was addressed to them (thin views)."""
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions as drf_permissions
from rest_framework import serializers
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from atelier.api.errors import found_or_404
from atelier.library import invitations
from atelier.library.models import Invitation


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    collection = serializers.IntegerField(source="collection_id")
    collection_name = serializers.CharField(source="collection.name")
    owner = serializers.CharField(source="collection.owner.username")
    role = serializers.CharField()
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class PendingInvitationSerializer(serializers.ModelSerializer):
    """What a collection's admins see of the invitations they sent."""

    class Meta:
        model = Invitation
        fields = ["username", "role", "created_at"]


class MemberChangeSerializer(serializers.Serializer):
    """The answer to adding a member: the same whether or not the account exists."""
    username = serializers.CharField()
    role = serializers.CharField()
    state = serializers.ChoiceField(choices=["member", "invited"])


class InvitationsView(APIView):
    """GET: the invitations addressed to you."""

    permission_classes = [drf_permissions.IsAuthenticated]

    @extend_schema(responses=InvitationSerializer(many=True))
    def get(self, request):
        return Response(InvitationSerializer(invitations.invitations_for(request.user), many=True).data)


class InvitationAcceptView(APIView):
    """POST: you become a member of the collection, with the role you were invited to."""

    permission_classes = [drf_permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: inline_serializer(
        "InvitationAccepted", {"collection": serializers.IntegerField(), "role": serializers.CharField()})})
    def post(self, request, invitation_id: int):
        membership = invitations.do_accept_invitation(user=request.user, invitation=_mine(request, invitation_id))
        return Response({"collection": membership.collection_id, "role": membership.role})


class InvitationDeclineView(APIView):
    """POST: the invitation goes away."""

    permission_classes = [drf_permissions.IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request, invitation_id: int):
        invitations.do_decline_invitation(invitation=_mine(request, invitation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _mine(request, invitation_id: int):
    return found_or_404(invitations.access_invitation(user=request.user, invitation_id=invitation_id), "invitation")
