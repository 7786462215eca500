import csv
import io

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from audit.selectors import audit_events_for
from contacts.importer import ERROR_REPORT_HEADER
from contacts.models import Contact, ContactImport, ContactList, ContactListMembership, Suppression
from contacts.phones import normalize_phone
from contacts.selectors import contact_import_errors
from contacts.services import (
    contact_import_resume,
    contact_import_start,
    contact_list_add_contacts,
    contact_list_remove_contacts,
    contacts_opt_out,
)
from smscampaigns.errors import ApplicationError
from smscampaigns.json_limits import BoundedJSONFormField

FIRST_ERRORS_SHOWN = 20
# The contact page shows this many of the newest sends and inbound texts (a contact may have thousands).
HISTORY_SHOWN = 50


class ListActionForm(forms.Form):
    contact_list = forms.ModelChoiceField(queryset=ContactList.objects.all(), label="List")


class OptOutActionForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Recorded on each contact and in the audit trail")


class MembershipInline(admin.TabularInline):
    model = ContactListMembership
    extra = 0
    autocomplete_fields = ["contact_list"]
    readonly_fields = ["added_at"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "first_name", "last_name", "status", "country", "consent_source", "created_at"]
    list_filter = ["status", "country", "consent_source", "lists"]
    # A number in any format is normalised and looked up exactly (get_search_results); these are the fallback.
    search_fields = ["first_name", "last_name"]
    search_help_text = "A phone number in any format, or a name"
    readonly_fields = [
        "created_at",
        "updated_at",
        "consented_at",
        "opted_out_at",
        "opt_out_source",
        "history",
        "inbound_messages",
        "sends",
    ]
    inlines = [MembershipInline]
    show_full_result_count = False
    actions = ["add_to_list", "remove_from_list", "opt_out"]
    formfield_overrides = {models.JSONField: {"form_class": BoundedJSONFormField}}
    fieldsets = [
        (None, {"fields": ["phone_number", "first_name", "last_name", "timezone", "country", "attributes"]}),
        ("Consent evidence", {"fields": ["status", "consented_at", "consent_source", "consent_text"]}),
        ("Opt-out", {"fields": ["opted_out_at", "opt_out_source", "history"]}),
        ("Inbound messages", {"fields": ["inbound_messages"]}),
        ("Sends to this contact", {"fields": ["sends"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term and any(ch.isdigit() for ch in term):
            try:
                number = normalize_phone(term)
            except ApplicationError:
                pass  # not a number after all: search the names
            else:
                return queryset.filter(phone_number=number.e164), False
        return super().get_search_results(request, queryset, search_term)

    # --- The contact page's history (newest first, bounded, one query each) ---------------------------

    @admin.display(description="consent and opt-out history")
    def history(self, obj: Contact) -> str:
        events = audit_events_for(target=obj)[:HISTORY_SHOWN] if obj.pk else []
        rows = ((e.created_at, e.action, e.actor_label, e.data.get("source", "")) for e in events)
        return format_html_join(mark_safe("<br>"), "{} · {} by {} {}", rows) or "-"

    @admin.display(description="inbound messages")
    def inbound_messages(self, obj: Contact) -> str:
        messages_ = obj.inbound_messages.all()[:HISTORY_SHOWN] if obj.pk else []
        rows = ((m.received_at, m.get_action_display(), m.text) for m in messages_)
        return format_html_join(mark_safe("<br>"), "{} · action: {} · “{}”", rows) or "-"

    @admin.display(description="sends")
    def sends(self, obj: Contact) -> str:
        sends = obj.sends.select_related("campaign").order_by("-queued_at")[:HISTORY_SHOWN] if obj.pk else []
        rows = (
            (s.queued_at, s.campaign.name, s.get_status_display(), s.error_code or s.skip_reason or "", s.body)
            for s in sends
        )
        return format_html_join(mark_safe("<br>"), "{} · {} · {} {} · “{}”", rows) or "-"

    # --- Bulk actions -------------------------------------------------------------------------------

    def _ask(self, request, queryset, form, action: str, title: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "form": form,
            "action": action,
            "queryset": queryset,
            "count": queryset.count(),
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/contacts/contact/action_form.html", context)

    def _list_action(self, request, queryset, action: str, title: str, service, verb: str):
        form = ListActionForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._ask(request, queryset, form, action, title)
        contact_list = form.cleaned_data["contact_list"]
        changed = service(
            contact_list=contact_list, contact_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        messages.success(request, f"{changed} contact(s) {verb} {contact_list}.")
        return None

    @admin.action(description="Add the selected contacts to a list", permissions=["change"])
    def add_to_list(self, request, queryset):
        return self._list_action(
            request, queryset, "add_to_list", "Add contacts to a list", contact_list_add_contacts, "added to"
        )

    @admin.action(description="Remove the selected contacts from a list", permissions=["change"])
    def remove_from_list(self, request, queryset):
        return self._list_action(
            request,
            queryset,
            "remove_from_list",
            "Remove contacts from a list",
            contact_list_remove_contacts,
            "removed from",
        )

    @admin.action(description="Opt out the selected contacts", permissions=["change"])
    def opt_out(self, request, queryset):
        form = OptOutActionForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._ask(request, queryset, form, "opt_out", "Opt out contacts")
        try:
            count = contacts_opt_out(contacts=list(queryset), reason=form.cleaned_data["reason"], actor=request.user)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            return self._ask(request, queryset, form, "opt_out", "Opt out contacts")
        messages.success(request, f"{count} contact(s) opted out and suppressed.")
        return None


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

    # Resuming adds contacts, as the upload does: the same permission, not merely being able to see imports.
    @admin.action(description="Resume the selected failed imports", permissions=["add"])
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
