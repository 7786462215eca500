from django.contrib.admin.apps import AdminConfig


class BackOfficeAdminConfig(AdminConfig):
    """django.contrib.admin with the back office's site: the dashboard as its front page."""

    default_site = "insights.admin_site.BackOfficeAdminSite"
