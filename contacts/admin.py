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
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from audit.admin import ReadOnlyAdmin
from audit.selectors import audit_events_for
from contacts import admin_segments  # noqa: F401  (registers the segments admin, kept in its own module)
from contacts.csvfiles import FIELD_TARGET_PREFIX, IMPORT_TARGETS, spreadsheet_safe_writer
from contacts.custom_fields import custom_field_definition_validate
from contacts.importer import ERROR_REPORT_HEADER
from contacts.models import (
    ConsentEvent,
    Contact,
    ContactImport,
    ContactList,
    ContactListMembership,
    CustomField,
    SubscriptionRequest,
    Suppression,
    Tag,
)
from contacts.phones import normalize_phone
from contacts.selectors import consent_history, contact_import_errors
from contacts.services.consent import ConsentContext, contact_opt_in, contacts_opt_out
from contacts.services.contacts import contact_create, contact_delete, contact_details_validate, contact_update
from contacts.services.custom_fields import (
    custom_field_create,
    custom_field_delete,
    custom_field_promote,
    custom_field_update,
)
from contacts.services.imports import (
    contact_import_columns,
    contact_import_delete,
    contact_import_map,
    contact_import_resume,
    contact_import_start,
)
from contacts.services.lists import (
    contact_list_add_contacts,
    contact_list_create,
    contact_list_delete,
    contact_list_name_validate,
    contact_list_remove_contacts,
    contact_list_update,
)
from contacts.services.subscriptions import (
    ListOptIn,
    contact_list_opt_in_update,
    list_keywords_validate,
    slug_validate,
)
from contacts.services.suppressions import suppression_add, suppression_remove, suppression_update, suppression_validate
from contacts.services.tags import (
    TAGS_PER_CONTACT_MOST,
    contacts_tag,
    contacts_untag,
    tag_create,
    tag_delete,
    tag_name_validate,
    tag_update,
)
from contacts.uploads import upload_size_guard, upload_too_large
from smscampaigns.errors import ApplicationError
from smscampaigns.json_limits import BoundedJSONFormField
from smscampaigns.service_admin import ServiceModelAdmin, adopt_saved, form_error_from

FIRST_ERRORS_SHOWN = 20
# The contact page shows this many of the newest sends and inbound texts (a contact may have thousands).
HISTORY_SHOWN = 50


def _consent_context(request) -> ConsentContext:
    return ConsentContext.from_request(request, method=ConsentEvent.Method.ADMIN)


class ListActionForm(forms.Form):
    contact_list = forms.ModelChoiceField(queryset=ContactList.objects.all(), label="List")


class TagActionForm(forms.Form):
    tag = forms.ModelChoiceField(queryset=Tag.objects.all(), label="Tag")


class OptOutActionForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Recorded on each contact and in the audit trail")


class OptInActionForm(forms.Form):
    consent_source = forms.CharField(max_length=255, help_text="Where each person consented again, e.g. 'phone call'")
    consent_text = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}), help_text="The wording agreed to"
    )


class MembershipInline(admin.TabularInline):
    """When the contact joined each list; the lists change with the Lists field, which the service audits."""

    model = ContactListMembership
    extra = 0
    fields = ["contact_list", "added_at"]
    readonly_fields = ["contact_list", "added_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ContactForm(forms.ModelForm):
    """The contact's details, checked by the service that saves them; status and consent are not edited here."""

    # Any format: the service normalises it (the model field would insist on one).
    phone_number = forms.CharField(max_length=64, help_text="Any format; stored as E.164, e.g. +14155550123")
    contact_lists = forms.ModelMultipleChoiceField(
        queryset=ContactList.objects.all(),
        required=False,
        label="Lists",
        widget=admin.widgets.FilteredSelectMultiple("lists", is_stacked=False),
    )
    contact_tags = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.all(),
        required=False,
        label="Tags",
        widget=admin.widgets.FilteredSelectMultiple("tags", is_stacked=False),
    )

    class Meta:
        model = Contact
        fields = ["phone_number", "first_name", "last_name", "timezone", "attributes", "consent_source", "consent_text"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "contact_lists" in self.fields:
            self.fields["contact_lists"].initial = list(self.instance.lists.all())
        if self.instance.pk and "contact_tags" in self.fields:
            self.fields["contact_tags"].initial = list(self.instance.tags.all())
        if "attributes" in self.fields:
            self.fields["attributes"].help_text = (
                "Values for personalisation. A custom field's value goes under its key and is checked against "
                "its type (Contacts > Custom fields)."
            )
        if "consent_source" in self.fields:
            self.fields["consent_source"].help_text = (
                "Where the person consented. Given, the contact is subscribed (unless the number is suppressed); "
                "blank, unsubscribed."
            )

    def clean_attributes(self):
        return self.cleaned_data.get("attributes") or {}

    def clean_contact_tags(self):
        tags = self.cleaned_data.get("contact_tags") or []
        if len(tags) > TAGS_PER_CONTACT_MOST:
            raise forms.ValidationError(f"a contact has at most {TAGS_PER_CONTACT_MOST} tags")
        return tags

    def clean(self):
        cleaned = super().clean()
        try:
            contact_details_validate(
                phone_number=cleaned.get("phone_number"),
                timezone_name=cleaned.get("timezone"),
                attributes=cleaned.get("attributes"),
                contact=self.instance if self.instance.pk else None,
            )
        except ApplicationError as exc:
            form_error_from(self, exc)
        return cleaned


# What staff edit on a contact; contact_update refuses anything else.
CONTACT_DETAILS = ("first_name", "last_name", "timezone", "attributes")


@admin.register(Contact)
class ContactAdmin(ServiceModelAdmin):
    form = ContactForm
    list_display = ["phone_number", "first_name", "last_name", "status", "country", "consent_source", "created_at"]
    list_filter = ["status", "country", "consent_source", "line_type", "lists", "tags"]
    # A number in any format is normalised and looked up exactly (get_search_results); these are the fallback.
    search_fields = ["first_name", "last_name"]
    search_help_text = "A phone number in any format, or a name"
    # Status and consent change only through the opt-out and opt-in actions (audited); the consent evidence
    # is given once, when the contact is added.
    readonly_fields = [
        "country",
        "status",
        "created_at",
        "updated_at",
        "consented_at",
        "opted_out_at",
        "opt_out_source",
        "consent_events",
        "subscription_requests",
        "history",
        "inbound_messages",
        "sends",
        "custom_field_values",
        "line_type",
        "carrier",
        "number_ported",
        "lookup_country",
        "looked_up_at",
    ]
    inlines = [MembershipInline]
    show_full_result_count = False
    actions = ["add_to_list", "remove_from_list", "add_tag", "remove_tag", "opt_out", "opt_in"]
    formfield_overrides = {models.JSONField: {"form_class": BoundedJSONFormField}}
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "phone_number",
                    "first_name",
                    "last_name",
                    "timezone",
                    "country",
                    "attributes",
                    "custom_field_values",
                    "contact_lists",
                    "contact_tags",
                ]
            },
        ),
        ("Consent evidence", {"fields": ["status", "consented_at", "consent_source", "consent_text"]}),
        ("Opt-out", {"fields": ["opted_out_at", "opt_out_source", "history"]}),
        ("Number lookup", {"fields": ["line_type", "carrier", "number_ported", "lookup_country", "looked_up_at"]}),
        ("Consent history", {"fields": ["consent_events"]}),
        ("Requests to join a list", {"fields": ["subscription_requests"]}),
        ("Inbound messages", {"fields": ["inbound_messages"]}),
        ("Sends to this contact", {"fields": ["sends"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is None else [*readonly, "consent_source", "consent_text"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            contact = contact_create(
                phone_number=data["phone_number"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                timezone_name=data["timezone"],
                attributes=data["attributes"],
                consent_source=data["consent_source"],
                consent_text=data["consent_text"],
                lists=list(data["contact_lists"]),
                tags=list(data["contact_tags"]),
                actor=request.user,
                context=_consent_context(request),
            )
            adopt_saved(obj, contact)
            return
        changed = set(form.changed_data)
        # The row as stored: the form has already copied its values onto `obj`.
        contact_update(
            contact=Contact.objects.get(pk=obj.pk),
            phone_number=data["phone_number"] if "phone_number" in changed else None,
            lists=list(data["contact_lists"]) if "contact_lists" in changed else None,
            tags=list(data["contact_tags"]) if "contact_tags" in changed else None,
            actor=request.user,
            **{name: data[name] for name in CONTACT_DETAILS if name in changed},
        )
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        contact_delete(contact=obj, actor=request.user)

    @admin.display(description="lists")
    def contact_lists(self, obj: Contact) -> str:
        """The Lists field as staff who may only view the contact see it."""
        return ", ".join(contact_list.name for contact_list in obj.lists.all()) if obj.pk else "-"

    @admin.display(description="custom fields")
    def custom_field_values(self, obj: Contact) -> str:
        """The contact's typed values, as segments filter on them (edited through the attributes)."""
        values = obj.field_values.select_related("field").order_by("field__key") if obj.pk else []
        rows = ((v.field.label, v.field.key, v.value) for v in values)
        return format_html_join(mark_safe("<br>"), "{} ({}): {}", rows) or "-"

    @admin.display(description="tags")
    def contact_tags(self, obj: Contact) -> str:
        """The Tags field as staff who may only view the contact see it."""
        return ", ".join(tag.name for tag in obj.tags.all()) if obj.pk else "-"

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

    @admin.display(description="consent history")
    def consent_events(self, obj: Contact) -> str:
        """Every consent and opt-out event of the contact and its number, newest first, as recorded."""
        events = consent_history(contact=obj)[:HISTORY_SHOWN] if obj.pk else []
        rows = (
            (
                e.created_at,
                e.get_kind_display(),
                e.get_method_display(),
                e.source,
                e.text,
                e.actor or "",
                e.ip or "",
                " (backfilled)" if e.backfilled else "",
            )
            for e in events
        )
        return format_html_join(mark_safe("<br>"), "{} · {} · {} · {} · “{}” {} {}{}", rows) or "-"

    @admin.display(description="requests to join")
    def subscription_requests(self, obj: Contact) -> str:
        """Each request to join a list with its evidence: how they asked, what we texted, what they answered."""
        requests = obj.subscription_requests.select_related("contact_list")[:HISTORY_SHOWN] if obj.pk else []
        rows = (
            (
                reverse("admin:contacts_subscriptionrequest_change", args=[r.pk]),
                r.created_at,
                r.contact_list.name if r.contact_list else "(a deleted list)",
                r.get_status_display(),
                r.get_source_display(),
                r.source_detail,
                r.confirmation_text or "-",
                r.reply_text or "-",
                r.end_reason,
            )
            for r in requests
        )
        return (
            format_html_join(
                mark_safe("<br>"), '<a href="{}">{}</a> · {} · {} · {} ({}) · sent “{}” · reply “{}” {}', rows
            )
            or "-"
        )

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

    def _tag_action(self, request, queryset, action: str, title: str, service, verb: str):
        form = TagActionForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._ask(request, queryset, form, action, title)
        tag = form.cleaned_data["tag"]
        changed = service(tag=tag, contact_ids=list(queryset.values_list("pk", flat=True)), actor=request.user)
        messages.success(request, f"{changed} contact(s) {verb} the tag {tag}.")
        return None

    @admin.action(description="Add a tag to the selected contacts", permissions=["change"])
    def add_tag(self, request, queryset):
        return self._tag_action(request, queryset, "add_tag", "Add a tag", contacts_tag, "given")

    @admin.action(description="Remove a tag from the selected contacts", permissions=["change"])
    def remove_tag(self, request, queryset):
        return self._tag_action(request, queryset, "remove_tag", "Remove a tag", contacts_untag, "relieved of")

    @admin.action(description="Opt out (staff): unsubscribe and suppress the selected contacts", permissions=["change"])
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

    @admin.action(description="Opt in again with new consent evidence (lifts a staff opt-out)", permissions=["change"])
    def opt_in(self, request, queryset):
        form = OptInActionForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._ask(request, queryset, form, "opt_in", "Opt contacts in again")
        opted_in = 0
        for contact in queryset:
            try:
                contact_opt_in(
                    contact=contact,
                    consent_source=form.cleaned_data["consent_source"],
                    consent_text=form.cleaned_data["consent_text"],
                    actor=request.user,
                    context=_consent_context(request),
                )
            except ApplicationError as exc:
                messages.error(request, f"{contact}: {exc.message}")
            else:
                opted_in += 1
        if opted_in:
            messages.success(request, f"{opted_in} contact(s) subscribed with the new consent evidence.")
        return None


class CustomFieldForm(forms.ModelForm):
    """A field's definition; choices one per line. Adding one whose key contacts already hold promotes it."""

    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For a choice field: the allowed values, one per line",
    )

    class Meta:
        model = CustomField
        fields = ["key", "label", "type", "choices", "description"]
        help_texts = {
            "key": "Lower-case letters, digits and _: the attribute name and the placeholder, e.g. score for "
            "{{ score }}. If contacts already hold an attribute of that name, it is promoted: every value is "
            "checked first, and the field is refused (naming the contacts) if any is not valid.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["choices"] = "\n".join(self.instance.choices)

    def clean_choices(self):
        return [line.strip() for line in self.cleaned_data.get("choices", "").splitlines() if line.strip()]

    def clean(self):
        cleaned = super().clean()
        if any(name not in cleaned for name in ("label", "choices")):
            return cleaned
        try:
            if self.instance.pk:
                custom_field_definition_validate(
                    key=self.instance.key, type=self.instance.type, choices=cleaned["choices"], label=cleaned["label"]
                )
            elif "key" in cleaned and "type" in cleaned:
                # The contacts' values are checked now, so a refusal names them beside the key.
                report = custom_field_promote(
                    key=cleaned["key"],
                    label=cleaned["label"],
                    type=cleaned["type"],
                    choices=cleaned["choices"],
                    dry_run=True,
                )
                if report.failed:
                    self.add_error("key", report.summary())
        except ApplicationError as exc:
            form_error_from(self, exc)
        return cleaned


@admin.register(CustomField)
class CustomFieldAdmin(ServiceModelAdmin):
    form = CustomFieldForm
    list_display = ["key", "label", "type", "description", "created_at"]
    list_filter = ["type"]
    search_fields = ["key", "label"]

    def get_readonly_fields(self, request, obj=None):
        # Values are stored by key and typed by type: changing either would strand them.
        return ["key", "type"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            custom_field_update(
                custom_field=CustomField.objects.get(pk=obj.pk),
                label=data["label"],
                description=data["description"],
                choices=data["choices"],
                actor=request.user,
            )
            obj.refresh_from_db()
        else:
            adopt_saved(
                obj,
                custom_field_create(
                    key=data["key"],
                    label=data["label"],
                    type=data["type"],
                    choices=data["choices"],
                    description=data["description"],
                    actor=request.user,
                ),
            )

    def delete_model(self, request, obj):
        custom_field_delete(custom_field=obj, actor=request.user)


class TagForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ["name"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("name") is not None:
            try:
                tag_name_validate(name=cleaned["name"], tag=self.instance if self.instance.pk else None)
            except ApplicationError as exc:
                form_error_from(self, exc)
        return cleaned


@admin.register(Tag)
class TagAdmin(ServiceModelAdmin):
    form = TagForm
    list_display = ["name", "contacts_count", "created_at"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(contacts_count=models.Count("contact_tags"))

    @admin.display(description="contacts", ordering="contacts_count")
    def contacts_count(self, obj: Tag) -> int:
        return obj.contacts_count

    def save_model(self, request, obj, form, change):
        name = form.cleaned_data["name"]
        if change:
            tag_update(tag=Tag.objects.get(pk=obj.pk), name=name, actor=request.user)
            obj.refresh_from_db()
        else:
            adopt_saved(obj, tag_create(name=name, actor=request.user))

    def delete_model(self, request, obj):
        tag_delete(tag=obj, actor=request.user)


class ContactListForm(forms.ModelForm):
    list_keywords = forms.CharField(
        label="Keywords",
        required=False,
        max_length=500,
        help_text="Words that, texted alone to your number, ask to join this list (e.g. JOIN, SALE); comma-separated",
    )

    class Meta:
        model = ContactList
        fields = [
            "name",
            "description",
            "slug",
            "opt_in_mode",
            "program_name",
            "message_frequency",
            "disclosure_text",
            "welcome_message",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A list needs none of these: it is only a list until staff let people join it by themselves.
        for name in ("opt_in_mode", "message_frequency"):
            if name in self.fields:
                self.fields[name].required = False
        if self.instance.pk and "list_keywords" in self.fields:
            self.fields["list_keywords"].initial = ", ".join(self.instance.keywords.values_list("keyword", flat=True))

    def clean(self):
        cleaned = super().clean()
        renamed = self.instance if self.instance.pk else None
        if cleaned.get("name") is not None:
            try:
                contact_list_name_validate(name=cleaned["name"], contact_list=renamed)
            except ApplicationError as exc:
                form_error_from(self, exc)
        try:
            cleaned["list_keywords"] = list_keywords_validate(
                keywords=(cleaned.get("list_keywords") or "").split(","), contact_list=renamed
            )
        except ApplicationError as exc:
            self.add_error("list_keywords", exc.message)
        try:
            cleaned["slug"] = slug_validate(slug=cleaned.get("slug"), contact_list=renamed)
        except ApplicationError as exc:
            form_error_from(self, exc)
        return cleaned

    def opt_in(self) -> ListOptIn:
        data = self.cleaned_data
        return ListOptIn(
            slug=data["slug"],
            opt_in_mode=data["opt_in_mode"] or ContactList.OptInMode.DOUBLE,
            program_name=data["program_name"].strip(),
            message_frequency=data["message_frequency"].strip() or ContactList.DEFAULT_FREQUENCY,
            disclosure_text=data["disclosure_text"].strip(),
            welcome_message=data["welcome_message"].strip(),
            keywords=sorted(data["list_keywords"]),
        )


@admin.register(ContactList)
class ContactListAdmin(ServiceModelAdmin):
    form = ContactListForm
    list_display = ["name", "description", "slug", "opt_in_mode", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["disclosure_version", "embed_snippet", "pending_requests"]
    fieldsets = [
        (None, {"fields": ["name", "description"]}),
        (
            "People joining by themselves (keywords, sign-up page, API)",
            {
                "fields": [
                    "list_keywords",
                    "opt_in_mode",
                    "program_name",
                    "message_frequency",
                    "welcome_message",
                    "slug",
                    "disclosure_text",
                    "disclosure_version",
                    "embed_snippet",
                    "pending_requests",
                ]
            },
        ),
    ]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            contact_list = contact_list_update(
                contact_list=ContactList.objects.get(pk=obj.pk),
                name=data["name"],
                description=data["description"],
                actor=request.user,
            )
        else:
            contact_list = contact_list_create(name=data["name"], description=data["description"], actor=request.user)
        values = form.opt_in()
        if values != ListOptIn.of(contact_list):
            contact_list_opt_in_update(contact_list=contact_list, values=values, actor=request.user)
        if change:
            obj.refresh_from_db()
        else:
            adopt_saved(obj, contact_list)

    @admin.display(description="keywords")
    def list_keywords(self, obj: ContactList) -> str:
        """Shown to staff who may only read the list (editors get the form field of the same name)."""
        return ", ".join(obj.keywords.values_list("keyword", flat=True)) if obj.pk else ""

    @admin.display(description="embed on your site")
    def embed_snippet(self, obj: ContactList) -> str:
        if not obj.pk or not obj.slug:
            return "Give the list a page address (slug) to get its sign-up page and this snippet."
        url = f"{settings.PUBLIC_BASE_URL}{reverse('join', kwargs={'slug': obj.slug})}"
        snippet = f'<iframe src="{url}" title="Sign up for texts" width="400" height="560"></iframe>'
        return format_html(
            '<a href="{}">{}</a><br><code class="embed-snippet">{}</code><br>The embedding site must be in '
            "JOIN_FRAME_ANCESTORS.",
            url,
            url,
            snippet,
        )

    @admin.display(description="awaiting confirmation")
    def pending_requests(self, obj: ContactList) -> str:
        if not obj.pk:
            return "-"
        pending = obj.subscription_requests.filter(status=SubscriptionRequest.Status.PENDING).count()
        url = reverse("admin:contacts_subscriptionrequest_changelist")
        return format_html(
            '<a href="{}?contact_list__id__exact={}&status__exact=pending">{} pending</a>', url, obj.pk, pending
        )

    def delete_model(self, request, obj):
        contact_list_delete(contact_list=obj, actor=request.user)


class SuppressionForm(forms.ModelForm):
    # Any format: the service normalises it.
    phone_number = forms.CharField(max_length=64, help_text="Any format; stored as E.164")

    class Meta:
        model = Suppression
        fields = ["phone_number", "reason", "source", "note"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("phone_number") is not None and cleaned.get("reason"):
            try:
                suppression_validate(phone_number=cleaned["phone_number"], reason=cleaned["reason"])
            except ApplicationError as exc:
                form_error_from(self, exc)
        return cleaned


@admin.register(Suppression)
class SuppressionAdmin(ServiceModelAdmin):
    form = SuppressionForm
    list_display = ["phone_number", "reason", "origin", "source", "created_by", "created_at"]
    list_filter = ["reason", "origin"]
    search_fields = ["phone_number", "source"]
    list_select_related = ["created_by"]
    # Who opted the number out decides who may lift it: recorded by the services, never edited.
    readonly_fields = ["origin", "created_by", "created_at"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        # The number, the reason and where it came from are the record of why the number is suppressed:
        # a different number or reason is another suppression, added on its own and audited.
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is None else ["phone_number", "reason", "source", *readonly]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            suppression_update(suppression=Suppression.objects.get(pk=obj.pk), note=data["note"], actor=request.user)
            obj.refresh_from_db()
        else:
            suppression = suppression_add(
                phone_number=data["phone_number"],
                reason=data["reason"],
                source=data["source"],
                note=data["note"],
                actor=request.user,
            )
            adopt_saved(obj, suppression)

    def delete_model(self, request, obj):
        suppression_remove(suppression=obj, actor=request.user)


@admin.register(SubscriptionRequest)
class SubscriptionRequestAdmin(ReadOnlyAdmin):
    """Requests to join a list and their evidence, read only: written by contacts.services.subscriptions."""

    list_display = ["created_at", "phone_number", "contact_list", "status", "source", "confirmed_at", "expires_at"]
    list_filter = ["status", "source", "contact_list"]
    search_fields = ["phone_number", "source_detail"]
    list_select_related = ["contact_list"]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["phone_number", "contact", "contact_list", "status", "double_opt_in", "end_reason"]}),
        (
            "How they asked",
            {
                "fields": [
                    "source",
                    "source_detail",
                    "request_text",
                    "disclosure_version",
                    "page_url",
                    "ip",
                    "user_agent",
                    "requested_by",
                    "created_at",
                ]
            },
        ),
        (
            "Confirmation text we sent",
            {
                "fields": [
                    "our_number",
                    "confirmation_text",
                    "confirmation_sent_at",
                    "confirmation_message_uuid",
                    "confirmation_error",
                ]
            },
        ),
        ("Their reply", {"fields": ["reply_text", "reply_received_at", "reply_message_uuid", "confirmed_at"]}),
        ("Welcome message", {"fields": ["welcome_text", "welcome_sent_at", "welcome_message_uuid", "welcome_error"]}),
        ("Ending", {"fields": ["expires_at", "ended_at"]}),
    ]


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    """The consent history, read only: events are appended by the services and never changed."""

    list_display = ["created_at", "phone_number", "kind", "method", "source", "actor", "backfilled"]
    list_filter = ["kind", "method", "backfilled"]
    search_fields = ["phone_number", "source", "text"]
    list_select_related = ["actor"]


class ContactImportForm(forms.Form):
    file = forms.FileField(help_text="CSV in UTF-8, UTF-16 or Windows-1252; the next step maps its columns")
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


class ColumnMappingForm(forms.Form):
    """One choice per column of the file: phone, a name, the time zone, a custom field, tags, or ignore."""

    def __init__(self, *args, headers: list[str], targets: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(target, label) for target, label in IMPORT_TARGETS.items()]
        choices[-1:-1] = [
            (FIELD_TARGET_PREFIX + field.key, f"Custom field: {field.label} ({field.get_type_display()})")
            for field in CustomField.objects.all()
        ]
        self.headers = headers
        for index, header in enumerate(headers):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                choices=choices, initial=targets[index], label=header or f"(column {index + 1}, no header)"
            )

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data[f"column_{index}"] for index, header in enumerate(self.headers) if header.strip()
        }


@admin.register(ContactImport)
class ContactImportAdmin(ServiceModelAdmin):
    list_display = ["__str__", "status", "progress", "rows_read", "created", "rejected", "created_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["created_by"]
    actions = ["resume_imports"]
    fieldsets = [
        (None, {"fields": ["source_name", "status", "progress", "failure", "error_report", "encoding"]}),
        (
            "Summary",
            {"fields": ["rows_read", "created", "updated", "unchanged", "duplicates", "rejected", "suppressed"]},
        ),
        ("First rejected rows", {"fields": ["first_errors"]}),
        (
            "Options",
            {
                "fields": [
                    "column_mapping",
                    "list_name",
                    "default_region",
                    "consent_source",
                    "update_existing",
                    "dry_run",
                ]
            },
        ),
        ("Record", {"fields": ["file", "created_by", "created_at", "started_at", "finished_at", "lines_done"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]

    def has_change_permission(self, request, obj=None):
        return False  # an import is a record of what happened; it is not edited

    def delete_model(self, request, obj):
        contact_import_delete(contact_import=obj, actor=request.user)

    @admin.display(description="progress")
    def progress(self, obj: ContactImport) -> str:
        return f"{obj.percent_done}%"

    @admin.display(description="error report")
    def error_report(self, obj: ContactImport) -> str:
        if not obj.rejected and not obj.suppressed:
            return "-"
        url = reverse("admin:contacts_contactimport_errors", args=[obj.pk])
        return format_html('<a href="{}">Download the rows not imported (CSV)</a>', url)

    @admin.display(description="columns")
    def column_mapping(self, obj: ContactImport) -> str:
        if obj.status == ContactImport.Status.MAPPING:
            url = reverse("admin:contacts_contactimport_mapping", args=[obj.pk])
            return format_html('<a href="{}">Map the columns and start the import</a>', url)
        if not obj.mapping:
            return "understood by their headers"
        return format_html_join(mark_safe("<br>"), "{} → {}", obj.mapping.items())

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
        mapping = self.admin_site.admin_view(self.mapping_view)
        return [
            path("<int:pk>/errors.csv", view, name="contacts_contactimport_errors"),
            path("<int:pk>/mapping/", mapping, name="contacts_contactimport_mapping"),
            *super().get_urls(),
        ]

    def mapping_view(self, request, pk: int):
        """The second step of an upload: the file's first rows, and what each column is to be."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        record = get_object_or_404(ContactImport, pk=pk)
        if record.status != ContactImport.Status.MAPPING or not record.file:
            messages.info(request, f"{record} is {record.get_status_display().lower()}: its columns are mapped.")
            return redirect("admin:contacts_contactimport_change", record.pk)
        try:
            columns = contact_import_columns(contact_import=record)
        except (ApplicationError, OSError) as exc:
            messages.error(request, f"{record}: {getattr(exc, 'message', exc)}")
            return redirect("admin:contacts_contactimport_change", record.pk)
        form = ColumnMappingForm(
            request.POST if request.method == "POST" else None, headers=columns.headers, targets=columns.targets
        )
        if request.method == "POST" and form.is_valid():
            try:
                contact_import_map(contact_import=record, mapping=form.mapping(), actor=request.user)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"{record} is queued; this page follows its progress.")
                return redirect("admin:contacts_contactimport_change", record.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": record,
            "title": f"Map the columns of {record.source_name}",
            "form": form,
            "encoding": columns.encoding,
            "columns": [
                (form[f"column_{index}"], [row[index] for row in columns.rows]) for index in range(len(columns.headers))
            ],
            "rows_shown": len(columns.rows),
        }
        return TemplateResponse(request, "admin/contacts/contactimport/mapping.html", context)

    # The upload cap must be in place before anything reads the body, the CSRF check included: the check
    # runs in _upload_view, after it. Refusing an upload too large to read changes nothing, so it needs none.
    @method_decorator(csrf_exempt)
    def add_view(self, request, form_url="", extra_context=None):
        """The "Import contacts" page: upload, then the import's own page shows progress and the summary."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        cap = upload_size_guard(request)
        if cap.exceeded:  # its Content-Length says it is over the cap: not a byte is read
            form = ContactImportForm()
            form.errors["file"] = form.error_class([upload_too_large().message])
            return self._upload_page(request, form)
        return self._upload_view(request, cap)

    @method_decorator(csrf_protect)
    def _upload_view(self, request, cap):
        form = ContactImportForm(request.POST or None, request.FILES or None)
        if cap.exceeded:  # cut off at the cap while it was read
            form.is_valid()
            form.errors["file"] = form.error_class([upload_too_large().message])
        elif request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                record = contact_import_start(
                    file=data["file"],
                    contact_list_name=data["list_name"],
                    default_region=data["default_region"],
                    consent_source=data["consent_source"],
                    update=data["update_existing"],
                    dry_run=data["dry_run"],
                    map_later=True,
                    actor=request.user,
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                return redirect("admin:contacts_contactimport_mapping", record.pk)
        return self._upload_page(request, form)

    def _upload_page(self, request, form: ContactImportForm):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": "Import contacts",
            "max_bytes": settings.CONTACT_IMPORT_MAX_BYTES,
        }
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
    spreadsheet_safe_writer(buffer).writerow(row)  # values and column names come from the uploaded file
    return buffer.getvalue()
