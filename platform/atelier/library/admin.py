from django.contrib import admin

from atelier.library.models import Collection, Membership, Photo


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "visibility", "created_at")
    inlines = [MembershipInline]


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ("id", "filename", "collection", "format", "width", "height", "thumbs_ready")
    list_filter = ("format", "thumbs_ready")
