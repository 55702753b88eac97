from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from atelier.core.views import healthz, livez, metrics, readyz
from atelier.jobs.views import jobs_page
from atelier.library import views as library_views
from atelier.pluginhost.urls import plugin_urlpatterns
from atelier.search import views as search_views

urlpatterns = [
    path("", library_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("livez", livez, name="livez"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("collections/", library_views.collections, name="collections"),
    path("collections/<int:collection_id>/", library_views.collection, name="collection"),
    path("collections/<int:collection_id>/members/", library_views.collection_member, name="collection-member"),
    path("invitations/<int:invitation_id>/", library_views.invitation_answer, name="invitation-answer"),
    path("photos/", library_views.timeline, name="timeline"),
    path("photos/<int:photo_id>/", library_views.photo, name="photo"),
    path("jobs/", jobs_page, name="jobs"),
    path("search/", search_views.search_page, name="search-page"),
    path("", include("atelier.tagging.urls")),
    path("api/", include("atelier.api.urls")),
    *plugin_urlpatterns(),
    path("admin/", admin.site.urls),
]

handler404 = "atelier.core.views.not_found"
handler500 = "atelier.core.views.server_error"
