from django.contrib import admin

from atelier.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "done", "total", "owner", "created_at")
    list_filter = ("state", "kind")
