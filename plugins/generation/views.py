"""The studio page: the form, limits and backends are rendered here; the live parts are studio.js over the API."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from atelier.plugin_api import can_edit, visible_collections
from plugins.generation import services


@login_required
def studio(request):
    services.dispatch_pending(request.user.pk)
    editable = [c for c in visible_collections(request.user).order_by("name") if can_edit(request.user, c)]
    return render(request, "generation/studio.html", {
        "backends": services.backend_statuses(),
        "collections": editable,
        "limits": {key: services.setting(key) for key in ("max_prompt_chars", "max_candidates", "max_keep")},
        "batch_limit": services.MAX_BATCH_PROMPTS,
    })
