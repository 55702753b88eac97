"""Tagging API paths, included by atelier/api/urls.py."""
from django.urls import path

from atelier.tagging import api

urlpatterns = [
    path("vocabularies/", api.VocabulariesView.as_view(), name="api-vocabularies"),
    path("vocabularies/<int:vocabulary_id>/", api.VocabularyView.as_view(), name="api-vocabulary"),
    path("vocabularies/<int:vocabulary_id>/tags/", api.VocabularyTagsView.as_view(), name="api-vocabulary-tags"),
    path("tags/<int:tag_id>/", api.TagView.as_view(), name="api-tag"),
    path("collections/<int:collection_id>/tagging/", api.TaggingJobView.as_view(), name="api-collection-tagging"),
    path("collections/<int:collection_id>/suggestions/", api.SuggestionsView.as_view(), name="api-collection-suggestions"),
    path("collections/<int:collection_id>/decisions/", api.DecisionsView.as_view(), name="api-collection-decisions"),
    path("photos/<int:photo_id>/tags/", api.PhotoTagsView.as_view(), name="api-photo-tags"),
]
