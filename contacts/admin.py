import csv
import io

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from contacts.importer import ERROR_REPORT_HEADER
from contacts.models import Contact, ContactImport, ContactList, ContactListMembership, Suppression
from contacts.selectors import contact_import_errors
from contacts.services import contact_import_resume, contact_import_start
from smscampaigns.errors import ApplicationError

FIRST_ERRORS_SHOWN = 20


class MembershipInline(admin.TabularInline):
    model = ContactListMembership
    extra = 0
    autocomplete_fields = ["contact_list"]
    readonly_fields = ["added_at"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "first_name", "last_name", "status", "country", "consent_source", "created_at"]
    list_filter = ["status", "country", "consent_source", "lists"]
    search_fields = ["phone_number", "first_name", "last_name"]
    readonly_fields = ["created_at", "updated_at", "consented_at", "opted_out_at", "opt_out_source"]
    inlines = [MembershipInline]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["phone_number", "first_name", "last_name", "timezone", "country", "attributes"]}),
        ("Consent", {"fields": ["status", "consented_at", "consent_source", "consent_text"]}),
        ("Opt-out", {"fields": ["opted_out_at", "opt_out_source"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "reason", "source", "created_by", "created_at"]
    list_filter = ["reason"]
    search_fields = ["phone_number", "source"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at"]
    show_full_result_count = False


class ContactImportForm(forms.Form):
    file = forms.FileField(help_text="CSV, UTF-8")
    list_name = forms.CharField(required=False, max_length=200, help_text="Add the contacts to this list (created)")
    default_region = forms.CharField(
        max_length=2, initial=settings.DEFAULT_PHONE_REGION, help_text="For numbers written without a country code"
    )
    consent_source = forms.CharField(
        required=False,
        max_length=255,
        help_text="Where these people consented. Leave blank and they arrive unsubscribed.",
    )
    update_existing = forms.BooleanField(
        required=False, help_text="Overwrite names and attributes of existing contacts"
    )
    dry_run = forms.BooleanField(required=False, help_text="Check the file and count; write no contact")


@admin.register(ContactImport)
class ContactImportAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "progress", "rows_read", "created", "rejected", "created_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["created_by"]
    actions = ["resume_imports"]
    fieldsets = [
        (None, {"fields": ["source_name", "status", "progress", "failure", "error_report"]}),
        (
            "Summary",
            {"fields": ["rows_read", "created", "updated", "unchanged", "duplicates", "rejected", "suppressed"]},
        ),
        ("First rejected rows", {"fields": ["first_errors"]}),
        ("Options", {"fields": ["list_name", "default_region", "consent_source", "update_existing", "dry_run"]}),
        ("Record", {"fields": ["file", "created_by", "created_at", "started_at", "finished_at", "lines_done"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]

    def has_change_permission(self, request, obj=None):
        return False  # an import is a record of what happened; it is not edited

    @admin.display(description="progress")
    def progress(self, obj: ContactImport) -> str:
        return f"{obj.percent_done}%"

    @admin.display(description="error report")
    def error_report(self, obj: ContactImport) -> str:
        if not obj.rejected and not obj.suppressed:
            return "-"
        url = reverse("admin:contacts_contactimport_errors", args=[obj.pk])
        return format_html('<a href="{}">Download the rows not imported (CSV)</a>', url)

    @admin.display(description="first rejected rows")
    def first_errors(self, obj: ContactImport) -> str:
        errors = obj.errors.all()[:FIRST_ERRORS_SHOWN]
        if not errors:
            return "-"
        return format_html_join(
            mark_safe("<br>"), "line {}, {}: {} ({})", ((e.line, e.column or "row", e.value, e.reason) for e in errors)
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.error_report_view)
        return [path("<int:pk>/errors.csv", view, name="contacts_contactimport_errors"), *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        """The "Import contacts" page: upload, then the import's own page shows progress and the summary."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ContactImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                record = contact_import_start(
                    file=data["file"],
                    contact_list_name=data["list_name"],
                    default_region=data["default_region"],
                    consent_source=data["consent_source"],
                    update=data["update_existing"],
                    dry_run=data["dry_run"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"{record} is queued; this page follows its progress.")
                return redirect("admin:contacts_contactimport_change", record.pk)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form, "title": "Import contacts"}
        return TemplateResponse(request, "admin/contacts/contactimport/upload.html", context)

    def error_report_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        record = get_object_or_404(ContactImport, pk=pk)
        rows = (writer_line(row) for row in [ERROR_REPORT_HEADER, *contact_import_errors(contact_import=record)])
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{record.pk}-errors.csv"'
        return response

    @admin.action(description="Resume the selected failed imports")
    def resume_imports(self, request, queryset):
        for record in queryset:
            try:
                contact_import_resume(contact_import=record)
            except ApplicationError as exc:
                messages.error(request, f"{record}: {exc.message}")
            else:
                messages.success(request, f"{record} is queued again; it carries on after its last batch.")


def writer_line(row) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue()
