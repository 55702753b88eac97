from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from atelier.accounts import api as accounts_api
from atelier.api import invitations, views
from atelier.search import api as search_api

router = SimpleRouter()
router.register("collections", views.CollectionViewSet, basename="api-collection")
router.register("photos", views.PhotoViewSet, basename="api-photo")
router.register("jobs", views.JobViewSet, basename="api-job")

urlpatterns = [
    path("auth/token/", accounts_api.TokenView.as_view(), name="api-token"),
    path("auth/logout/", accounts_api.LogoutView.as_view(), name="api-logout"),
    path("auth/revoke/", accounts_api.RevokeTokensView.as_view(), name="api-revoke-tokens"),
    path("users/", accounts_api.UsersView.as_view(), name="api-users"),
    path("invitations/", invitations.InvitationsView.as_view(), name="api-invitations"),
    path("invitations/<int:invitation_id>/accept/", invitations.InvitationAcceptView.as_view(),
         name="api-invitation-accept"),
    path("invitations/<int:invitation_id>/decline/", invitations.InvitationDeclineView.as_view(),
         name="api-invitation-decline"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("search/", search_api.SearchView.as_view(), name="api-search"),
    path("photos/<int:photo_id>/similar/", search_api.SimilarView.as_view(), name="api-photo-similar"),
    path("", include("atelier.tagging.api_urls")),
    *router.urls,
]
