"""Corrections to the admin pages that third-party apps register."""

from axes.admin import AccessAttemptAdmin
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.contrib import admin


class AccessAttemptWithWorkingCleanupAdmin(AccessAttemptAdmin):
    @admin.action(description="Clean up expired attempts")
    def cleanup_expired_attempts(self, request, queryset):
        # django-axes' handler reads the attempt time that its login handling sets on a request; an admin
        # request never went through that, and the action failed with an AttributeError (a 500).
        AxesProxyHandler.update_request(request)
        return super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):  # AXES_ENABLE_ADMIN may leave axes' pages out
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptWithWorkingCleanupAdmin)
