"""Invitations API: the invitee lists, accepts and declines what was addressed to them (thin views)."""
from drf_spectacular.utils import extend_schema
from rest_framework import permissions as drf_permissions
from rest_framework import serializers
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from atelier.api.errors import found_or_404
from atelier.library import invitations


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    collection = serializers.IntegerField(source="collection_id")
    collection_name = serializers.CharField(source="collection.name")
    owner = serializers.CharField(source="collection.owner.username")
    role = serializers.CharField()
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class PendingInvitationSerializer(serializers.Serializer):
    """What a collection's admins see of the invitations they sent."""
    username = serializers.CharField()
    role = serializers.CharField()
    created_at = serializers.DateTimeField()


class InvitationsView(APIView):
    """GET: the invitations addressed to you."""

    permission_classes = [drf_permissions.IsAuthenticated]

    @extend_schema(responses=InvitationSerializer(many=True))
    def get(self, request):
        return Response(InvitationSerializer(invitations.invitations_for(request.user), many=True).data)


class InvitationAnswerView(APIView):
    """POST /api/invitations/{id}/accept/ (you become a member) or /decline/."""

    permission_classes = [drf_permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: dict, 204: None, 404: dict})
    def post(self, request, invitation_id: int, answer: str):
        invitation = found_or_404(invitations.access_invitation(user=request.user, invitation_id=invitation_id),
                                  "invitation")
        if answer == "decline":
            invitations.do_decline_invitation(invitation=invitation)
            return Response(status=status.HTTP_204_NO_CONTENT)
        membership = invitations.do_accept_invitation(user=request.user, invitation=invitation)
        return Response({"collection": membership.collection_id, "role": membership.role})
