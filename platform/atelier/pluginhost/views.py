"""Staff page: which plugins are loaded, disabled, or failed (and why)."""
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render

from atelier.pluginhost.discovery import API_VERSION


@staff_member_required
def plugins_page(request):
    found = settings.ATELIER_PLUGINS
    return render(request, "pluginhost/plugins.html", {
        "loaded": found.loaded, "disabled": found.disabled, "problems": found.problems, "api_version": API_VERSION,
    })
