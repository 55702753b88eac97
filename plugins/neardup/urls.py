from django.urls import path

from plugins.neardup.views import groups_page

urlpatterns = [path("collections/<int:collection_id>/", groups_page, name="groups")]
