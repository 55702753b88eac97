"""Generation API paths, mounted under /api/ by the plugin host (namespace generation-api)."""
from django.urls import path

from plugins.generation import api

urlpatterns = [
    path("generate/", api.GenerateView.as_view(), name="generate"),
    path("generate/batch/", api.GenerateBatchView.as_view(), name="generate-batch"),
    path("generations/", api.GenerationsView.as_view(), name="generations"),
    path("generations/<int:generation_id>/", api.GenerationView.as_view(), name="generation"),
    path("generations/<int:generation_id>/save/", api.SaveView.as_view(), name="save"),
    path("generations/<int:generation_id>/candidates/<int:index>.png", api.CandidateImageView.as_view(), name="candidate-image"),
    path("generations/<int:generation_id>/preview.png", api.PreviewImageView.as_view(), name="preview-image"),
    path("generation-backends/", api.BackendsView.as_view(), name="backends"),
]
