from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from atelier.api import views
from atelier.search import api as search_api

router = SimpleRouter()
router.register("collections", views.CollectionViewSet, basename="api-collection")
router.register("photos", views.PhotoViewSet, basename="api-photo")
router.register("jobs", views.JobViewSet, basename="api-job")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("users/", views.UsersView.as_view(), name="api-users"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("search/", search_api.SearchView.as_view(), name="api-search"),
    path("photos/<int:photo_id>/similar/", search_api.SimilarView.as_view(), name="api-photo-similar"),
    path("", include("atelier.tagging.api_urls")),
    *router.urls,
]
