"""ModelAdmin plumbing for models whose every write is a service call.

The services enforce the rules (consent, status transitions) and write the audit trail; Django's admin
would otherwise save and delete rows itself. A ServiceModelAdmin implements `save_model` and `delete_model`
with its services; the list's "Delete selected" then goes through `delete_model` too, and a service's
refusal reaches staff as a message, never as a server error.
"""

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.db import models, transaction
from django.shortcuts import redirect
from django.urls import reverse

from smscampaigns.errors import ApplicationError


def form_error_from(form, exc: ApplicationError) -> None:
    """Show a service's refusal on the form: beside the field it names where the form has it, else above it."""
    for name, problems in (exc.errors or {exc.field: [exc.message]}).items():
        field = (name or "").split(".")[0]  # "attributes.city": the attributes field
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


def adopt_saved(obj: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved object the row a service created: the admin logs it and redirects to it."""
    obj.pk = saved.pk
    obj.refresh_from_db()
    obj._state.adding = False


def _delete_selected_through_services(modeladmin, request, queryset):
    # Django's own action, in one transaction: it deletes through delete_queryset, hence through the
    # service of each object; one refusal deletes nothing and says why.
    try:
        with transaction.atomic():
            return delete_selected(modeladmin, request, queryset)
    except ApplicationError as exc:
        modeladmin.message_user(request, f"Nothing was deleted: {exc.message}", messages.ERROR)
        return None


class ServiceModelAdmin(admin.ModelAdmin):
    """Subclasses write `save_model` and `delete_model` with services; everything else routes through them."""

    def save_model(self, request, obj, form, change):
        raise NotImplementedError(f"{type(self).__name__} must save through a service")

    def delete_model(self, request, obj):
        raise NotImplementedError(f"{type(self).__name__} must delete through a service")

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions[name] = (_delete_selected_through_services, name, description)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:  # the deletion is rolled back with the admin's log entry
            self.message_user(request, f"Not deleted: {exc.message}", messages.ERROR)
            opts = self.opts
            return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form's clean() runs the services' checks, so a refusal here is a race with another writer
        # between the check and the save (the same number taken meanwhile): say so and show the page again.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)
            return redirect(request.get_full_path())
