"""REST API views: parse, check permissions, call a service, return JSON."""
from django.conf import settings
from django.db.models import Count
from django.http import FileResponse
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
from atelier.api.pagination import api_page_bounds
from atelier.api.parsers import FormParser, JSONParser, MultiPartParser
from atelier.jobs import selectors as job_selectors
from atelier.jobs import services as job_services
from atelier.library import bulk, permissions, selectors, services, storage, timeline
from atelier.library.imaging import camera_of
from atelier.api import photo_actions
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


def _upload_token(value) -> str | None:
    """The browser's id for one upload of many files (each file its own request): their jobs show as one entry."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 64 or not all(c.isalnum() or c == "-" for c in value):
        raise ValidationError({"upload": "an upload id: up to 64 letters, digits and dashes"})
    return value


def _paging_error(exc: Exception) -> ValidationError:
    name, _, message = str(exc).partition(": ")
    return ValidationError({name: message})


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
        report = do_ingest_files(collection=collection, user=request.user, files=[(f.name, f) for f in uploads],
                                 upload=_upload_token(request.data.get("upload")))
        code = status.HTTP_201_CREATED if report.created else status.HTTP_200_OK
        return Response(report.as_dict(), status=code)


class PhotoViewSet(ViewSet):
    permission_classes = [drf_permissions.IsAuthenticatedOrReadOnly]
    queryset = Photo.objects.none()
    pagination_class = None  # the list pages by keyset cursor (its parameters are declared on it)
    serializer_class = s.PhotoSerializer

    def _get(self, request, pk):
        return found_or_404(selectors.access_photo(user=request.user, photo_id=_int_id(pk)), "photo")

    def _timeline_scope(self, request):
        params = request.query_params
        if "offset" in params:
            raise ValidationError({"offset": "this list pages by cursor: follow `next` (or pass `cursor`)"})
        collection = None
        if "collection" in params:
            collection = self._collection(request, params["collection"])
        return selectors.timeline_photos(user=request.user, collection=collection, tags=params.getlist("tag"))

    def _collection(self, request, value):
        return found_or_404(selectors.access_collection(user=request.user, collection_id=_int_id(value, "collection")),
                            "collection")

    @extend_schema(parameters=[
        OpenApiParameter("collection", int, description="only this collection's photos"),
        OpenApiParameter("sort", str, enum=[*timeline.SORTS], description="taken (EXIF date, else added; default), added or title"),
        OpenApiParameter("cursor", str, description="the `next_cursor` of the previous page"),
        OpenApiParameter("limit", int, description=f"photos per page, 1 to ATELIER_API_MAX_PAGE (default {timeline.DEFAULT_LIMIT})"),
        OpenApiParameter("tag", str, many=True, description="only photos with any of these accepted tags"),
    ], responses=s.PhotoPageSerializer, operation_id="photos_list")
    def list(self, request):
        try:
            photos = self._timeline_scope(request)
            sort = timeline.check_sort(request.query_params.get("sort"))
            limit = timeline.check_limit(request.query_params.get("limit"))
            page = timeline.timeline_page(photos=photos, sort=sort, cursor=request.query_params.get("cursor"), limit=limit)
        except timeline.InvalidPaging as exc:
            raise _paging_error(exc) from None
        following = None
        if page.next_cursor:
            query = request.query_params.copy()
            query["cursor"] = page.next_cursor
            following = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        # The count (a scan of the whole list) comes with the first page only.
        count = None if request.query_params.get("cursor") else photos.count()
        return Response({"count": count, "next": following, "next_cursor": page.next_cursor,
                         "results": s.PhotoSerializer(page.photos, many=True).data})

    @extend_schema(parameters=[OpenApiParameter("collection", int), OpenApiParameter("sort", str, enum=[*timeline.DATE_SORTS]),
                               OpenApiParameter("tag", str, many=True)],
                   responses={200: dict})
    @action(detail=False, methods=["get"])
    def months(self, request):
        """Months with photos, newest first, each with its count and the cursor that starts the list there."""
        try:
            return Response({"months": timeline.month_index(photos=self._timeline_scope(request),
                                                            sort=request.query_params.get("sort"))})
        except timeline.InvalidPaging as exc:
            raise _paging_error(exc) from None

    @extend_schema(request=s.BulkActionSerializer, responses={200: dict})
    @action(detail=False, methods=["post"], parser_classes=[JSONParser])
    def bulk(self, request):
        """One action on selected photos: add_tag / remove_tag (tag), copy_to (collection), delete."""
        data = s.BulkActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        photos = self._selection(request, data.validated_data["ids"])
        return Response(photo_actions.run(user=request.user, photos=photos, **data.validated_data))

    @extend_schema(parameters=[OpenApiParameter("ids", str, description="comma-separated photo ids")],
                   responses={(200, "application/zip"): bytes})
    @action(detail=False, methods=["get"])
    def zip(self, request):
        """The originals of the selected photos as one zip file."""
        raw = request.query_params.get("ids", "")
        try:
            ids = [int(x) for x in raw.split(",") if x.strip()]
        except ValueError:
            raise ValidationError({"ids": "comma-separated photo ids"}) from None
        archive = bulk.zip_of_originals(self._selection(request, ids))
        return FileResponse(archive, as_attachment=True, filename="atelier-photos.zip", content_type="application/zip")

    def _selection(self, request, ids):
        try:
            return bulk.access_photos(user=request.user, ids=ids)
        except bulk.NotVisible as exc:
            raise NotFound(str(exc)) from None

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

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def facts(self, request, pk=None):
        """What the photo view shows beyond the row: the camera (from EXIF) and what the caller may change."""
        photo = self._get(request, pk)
        return Response({"camera": camera_of(storage.original_path(photo.sha256, photo.format)),
                         "can_edit": permissions.can_edit(request.user, photo.collection),
                         "can_tag": permissions.can_admin(request.user, photo.collection),
                         "collection_name": photo.collection.name})

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
