from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from atelier.jobs import presentation
from atelier.jobs.selectors import jobs_visible_to

JOBS_PER_PAGE = 60


@login_required
def jobs_page(request):
    """The user's jobs, newest first, in human words, a page at a time (?page=)."""
    jobs = jobs_visible_to(request.user).filter(owner=request.user).select_related("collection").order_by("-created_at", "-id")
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "jobs/jobs.html", {"page": page, "entries": presentation.entries(list(page.object_list))})
