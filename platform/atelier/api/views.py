"""REST API views: parse, check permissions, call a service, return JSON."""
from django.conf import settings
from django.db.models import Count
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions as drf_permissions
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.viewsets import ViewSet

from atelier.api.errors import found_or_404
from atelier.api import serializers as s
from atelier.api.files import original_response, thumbnail_response
from atelier.api.invitations import MemberChangeSerializer, PendingInvitationSerializer
from atelier.api.pagination import LimitOffsetPagination, api_page_bounds
from atelier.api.parsers import FormParser, MultiPartParser
from atelier.jobs import selectors as job_selectors
from atelier.jobs import services as job_services
from atelier.library import permissions, selectors, services
from atelier.library.ingest import do_ingest_files
from atelier.jobs.models import Job
from atelier.library.models import Collection, Photo


PAGE_PARAMS = [OpenApiParameter("limit", int, description="at most ATELIER_API_MAX_PAGE (500)"),
               OpenApiParameter("offset", int, description="default 0")]


def _int_id(value, name: str = "id") -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({name: f"must be an integer, got {str(value)[:40]!r}"}) from None
    if number < 1 or number > 2**62:
        raise NotFound()
    return number


class CollectionViewSet(ViewSet):
    permission_classes = [drf_permissions.IsAuthenticatedOrReadOnly]
    queryset = Collection.objects.none()  # only tells the schema that {id} is an integer
    serializer_class = s.CollectionSerializer

    def _get(self, request, pk) -> Collection:
        return found_or_404(selectors.access_collection(user=request.user, collection_id=_int_id(pk)), "collection")

    @extend_schema(parameters=PAGE_PARAMS)
    def list(self, request):
        limit, offset = api_page_bounds(request, default=settings.ATELIER_API_MAX_PAGE)
        qs = permissions.visible_collections(request.user).annotate(photo_count=Count("photos", distinct=True))
        return Response(s.CollectionSerializer(qs.order_by("name", "id")[offset:offset + limit], many=True).data)

    def create(self, request):
        data = s.CollectionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        collection = services.do_create_collection(owner=request.user, **data.validated_data)
        return Response(s.CollectionSerializer(collection).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(s.CollectionSerializer(self._get(request, pk)).data)

    def partial_update(self, request, pk=None):
        collection = self._get(request, pk)
        data = s.CollectionSerializer(collection, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        collection = services.check_update_collection(user=request.user, collection=collection, **data.validated_data)
        return Response(s.CollectionSerializer(collection).data)

    def destroy(self, request, pk=None):
        services.check_delete_collection(user=request.user, collection=self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses=s.MembershipSerializer(many=True), parameters=PAGE_PARAMS)
    @extend_schema(methods=["POST"], request=s.MembershipSerializer,
                   responses={200: MemberChangeSerializer, 202: MemberChangeSerializer})
    @action(detail=True, methods=["get", "post"])
    def members(self, request, pk=None):
        collection = self._get(request, pk)
        if request.method == "POST":
            data = s.MembershipSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            username, role = data.validated_data["user"]["username"], data.validated_data["role"]
            state = services.check_set_member(user=request.user, collection=collection, username=username, role=role)
            # The same answer whether or not the account exists: an invitation, until they accept.
            return Response({"username": username, "role": role, "state": state},
                            status=status.HTTP_200_OK if state == "member" else status.HTTP_202_ACCEPTED)
        if not permissions.can_admin(request.user, collection):
            raise PermissionDenied("only the collection's admins may see its members")
        limit, offset = api_page_bounds(request, default=settings.ATELIER_API_MAX_PAGE)
        members = collection.memberships.select_related("user").order_by("user__username")[offset:offset + limit]
        return Response(s.MembershipSerializer(members, many=True).data)

    @extend_schema(responses=PendingInvitationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def invitations(self, request, pk=None):
        """Invitations sent and not answered yet (admins)."""
        collection = self._get(request, pk)
        if not permissions.can_admin(request.user, collection):
            raise PermissionDenied("only the collection's admins may see its invitations")
        return Response(PendingInvitationSerializer(collection.invitations.all(), many=True).data)

    @action(detail=True, methods=["delete"], url_path=r"members/(?P<username>[^/]+)")
    def remove_member(self, request, pk=None, username=None):
        services.check_remove_member(user=request.user, collection=self._get(request, pk), username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
                   responses={201: s.UploadReportSerializer})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def photos(self, request, pk=None):
        collection = self._get(request, pk)
        if not permissions.can_edit(request.user, collection):
            raise PermissionDenied("only the collection's editors may add photos")
        uploads = request.FILES.getlist("files")
        if not uploads:
            raise ValidationError({"files": "send one or more files in the multipart field 'files'"})
        report = do_ingest_files(collection=collection, user=request.user, files=[(f.name, f) for f in uploads])
        code = status.HTTP_201_CREATED if report.created else status.HTTP_200_OK
        return Response(report.as_dict(), status=code)


class PhotoViewSet(ViewSet):
    permission_classes = [drf_permissions.IsAuthenticatedOrReadOnly]
    queryset = Photo.objects.none()
    pagination_class = LimitOffsetPagination  # the list pages (and the schema says so)
    serializer_class = s.PhotoSerializer

    def _get(self, request, pk):
        return found_or_404(selectors.access_photo(user=request.user, photo_id=_int_id(pk)), "photo")

    @extend_schema(parameters=[OpenApiParameter("collection", int, description="only this collection's photos"), *PAGE_PARAMS],
                   responses=s.PhotoSerializer)
    def list(self, request):
        qs = selectors.photos_visible_to(request.user)
        if "collection" in request.query_params:
            qs = qs.filter(collection_id=_int_id(request.query_params["collection"], "collection"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs.order_by("-created_at", "-id"), request, view=self)
        return paginator.get_paginated_response(s.PhotoSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(s.PhotoSerializer(self._get(request, pk)).data)

    @extend_schema(request=s.PhotoUpdateSerializer)
    def partial_update(self, request, pk=None):
        data = s.PhotoUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        photo = services.check_update_photo(user=request.user, photo=self._get(request, pk), **data.validated_data)
        return Response(s.PhotoSerializer(photo).data)

    def destroy(self, request, pk=None):
        services.check_delete_photo(user=request.user, photo=self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[OpenApiParameter("size", str, enum=["grid", "large"])], responses={(200, "image/jpeg"): bytes})
    @action(detail=True, methods=["get"])
    def thumbnail(self, request, pk=None):
        return thumbnail_response(self._get(request, pk), request.query_params.get("size", "grid"))

    @extend_schema(responses={(200, "image/*"): bytes})
    @action(detail=True, methods=["get"])
    def original(self, request, pk=None):
        return original_response(self._get(request, pk))


class JobViewSet(ViewSet):
    permission_classes = [drf_permissions.IsAuthenticated]
    queryset = Job.objects.none()
    serializer_class = s.JobSerializer

    def _get(self, request, pk):
        return found_or_404(job_selectors.access_job(user=request.user, job_id=_int_id(pk)), "job")

    @extend_schema(parameters=PAGE_PARAMS)
    def list(self, request):
        limit, offset = api_page_bounds(request, default=200)
        jobs = job_selectors.jobs_visible_to(request.user)[offset:offset + limit]
        return Response(s.JobSerializer(jobs, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(s.JobSerializer(self._get(request, pk)).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        try:
            job = job_services.check_cancel_job(job=self._get(request, pk), user=request.user)
        except job_services.JobAccessDenied as exc:
            raise PermissionDenied(str(exc)) from None
        return Response(s.JobSerializer(job).data)
