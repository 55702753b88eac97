"""Tagging pages, included by atelier/urls.py."""
from django.urls import path

from atelier.tagging import views

urlpatterns = [
    path("collections/<int:collection_id>/review/", views.review_page, name="tagging-review"),
    path("collections/<int:collection_id>/tags/", views.tags_page, name="tagging-tags"),
]
