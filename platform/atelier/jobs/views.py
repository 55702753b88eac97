from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from atelier.jobs.selectors import recent_jobs_for


@login_required
def jobs_page(request):
    return render(request, "jobs/jobs.html", {"jobs": recent_jobs_for(request.user, limit=100)})
