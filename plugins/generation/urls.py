from django.urls import path

from plugins.generation.views import studio

urlpatterns = [path("", studio, name="studio")]
