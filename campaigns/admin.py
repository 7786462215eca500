from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from campaigns.admin_ab_tests import CampaignABTestAdminMixin
from campaigns.admin_preview import PREVIEW_REQUIRED, PREVIEW_STALE, preview_confirmation_check, preview_show
from campaigns.admin_progress import CampaignProgressAdminMixin
from campaigns.caps import frequency_cap_in_force
from campaigns.models import Campaign, FrequencyCap, SenderPool
from campaigns.segments import segment_info
from campaigns.services.caps import frequency_cap_update
from campaigns.services.drafts import (
    AUDIENCE_PARTS,
    OPT_OUT_FOOTER,
    SENDING_RULE_FIELDS,
    campaign_audience_check,
    campaign_body_as_saved,
    campaign_delete,
    campaign_draft_save,
    campaign_sender_choice_check,
    campaign_sender_clean,
    campaign_sending_rules_check,
)
from campaigns.services.lifecycle import (
    campaign_cancel,
    campaign_pause,
    campaign_resume,
    campaign_schedule,
    campaign_send_now,
    campaign_unschedule,
)
from campaigns.services.sender_pools import (
    MAX_POOL_NUMBERS,
    sender_pool_check,
    sender_pool_delete,
    sender_pool_numbers_parse,
    sender_pool_save,
)
from campaigns.tracked_links import short_link_stand_in, text_as_sent
from contacts.selectors import contact_attribute_keys
from smscampaigns.errors import ApplicationError
from smscampaigns.service_admin import ServiceModelAdmin, adopt_saved, form_error_from

Status = Campaign.Status
CHANGE_PERMISSION = "campaigns.change_campaign"
NAME_PLACEHOLDERS = ["first_name", "last_name"]


@dataclass(frozen=True)
class CampaignAction:
    """A button on the campaign page (and, except schedule, an action of the list) that moves its status."""

    name: str  # the move of Campaign.MOVES it makes
    label: str
    permission: str
    confirm: str = ""
    needs_preview: bool = False  # confirmed on the preview page (campaigns/admin_preview.py), not by a dialog

    def allowed_for(self, campaign: Campaign) -> bool:
        return campaign.status in Campaign.MOVES[self.name].from_statuses


# Sending, scheduling and resuming need campaigns.send_campaign (the "Marketing manager" role); stopping a
# campaign (pause, back to draft) is open to anyone who may edit campaigns; cancelling is final, so it needs
# send_campaign too.
CAMPAIGN_ACTIONS = {
    action.name: action
    for action in [
        CampaignAction("schedule", "Schedule", Campaign.SEND_PERMISSION, needs_preview=True),
        CampaignAction("send_now", "Send now", Campaign.SEND_PERMISSION, needs_preview=True),
        CampaignAction("unschedule", "Back to draft", CHANGE_PERMISSION),
        CampaignAction("pause", "Pause", CHANGE_PERMISSION),
        CampaignAction("resume", "Resume", Campaign.SEND_PERMISSION),
        CampaignAction(
            "cancel", "Cancel campaign", Campaign.SEND_PERMISSION, "Cancel this campaign? This cannot be undone."
        ),
    ]
}


def perform_campaign_action(
    *,
    action: CampaignAction,
    campaign: Campaign,
    user,
    scheduled_at: datetime | None = None,
    preview_token: str = "",
):
    """Call the campaigns service behind `action` (each one audits the move with the user); send now and
    schedule only with the token of a preview of the campaign as it is (campaigns/admin_preview.py)."""
    if not user.has_perm(action.permission):
        raise PermissionDenied
    if not action.allowed_for(campaign):
        raise ApplicationError(
            f"campaign {campaign.name!r} is {campaign.get_status_display().lower()}; {action.label.lower()} is not "
            "possible now",
            code="illegal_transition",
        )
    if action.needs_preview:
        preview_confirmation_check(
            campaign=campaign, user=user, action=action.name, scheduled_at=scheduled_at, token=preview_token
        )
    if action.name == "schedule":
        if scheduled_at is None:
            raise ApplicationError("choose when to send the campaign", field="scheduled_at")
        return campaign_schedule(campaign=campaign, scheduled_at=scheduled_at, actor=user)
    service = {
        "send_now": campaign_send_now,
        "unschedule": campaign_unschedule,
        "pause": campaign_pause,
        "resume": campaign_resume,
        "cancel": campaign_cancel,
    }[action.name]
    return service(campaign=campaign, actor=user)


class ScheduleForm(forms.Form):
    # Entered in the staff member's timezone (the active one), like every time in the admin.
    scheduled_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "name",
            "sender",
            "sender_pool",
            "lists",
            "segments",
            "excluded_lists",
            "excluded_segments",
            "body",
            "max_per_second",
            *SENDING_RULE_FIELDS,
            *("track_links", "utm_source", "utm_medium", "utm_campaign"),
        ]
        help_texts = {
            "lists": "Everyone on any of these lists",
            "segments": "And everyone matching any of these segments when the campaign goes",
            "excluded_lists": "Minus everyone on any of these lists",
            "excluded_segments": "Minus everyone matching any of these segments when the campaign goes",
        }
        widgets = {
            "body": forms.Textarea(attrs={"rows": 6, "cols": 80, "data-segment-counter": ""}),
            "local_send_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "local_time_passed": forms.RadioSelect,
        }

    def clean(self):
        cleaned = super().clean()
        self._clean_body(cleaned)
        # The service's rule on the sending fields (a local-time schedule needs its time), shown on the field.
        rules = {name: cleaned.get(name) for name in SENDING_RULE_FIELDS if name in self.fields}
        for name in ("schedule_mode", "local_time_passed"):
            # Left out of the form (a page from before these fields, a script): the campaign's own value.
            if name in rules and not rules[name]:
                rules[name] = cleaned[name] = getattr(self.instance, name)
        if rules:
            probe = Campaign(**{**{name: getattr(self.instance, name) for name in SENDING_RULE_FIELDS}, **rules})
            try:
                campaign_sending_rules_check(probe)
            except ApplicationError as exc:
                form_error_from(self, exc)
        parts = ("lists", *AUDIENCE_PARTS)
        if all(part in cleaned for part in parts):
            try:
                campaign_audience_check(**{part: list(cleaned[part]) for part in parts})
            except ApplicationError as exc:
                self.add_error(exc.field, exc.message)
        if cleaned.get("sender") and cleaned.get("sender_pool"):
            try:
                campaign_sender_choice_check(Campaign(sender=cleaned["sender"], sender_pool=cleaned["sender_pool"]))
            except ApplicationError as exc:
                form_error_from(self, exc)
        return cleaned

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("schedule_mode", "local_time_passed"):
            if name in self.fields:
                self.fields[name].required = False
        if "body" not in self.fields:
            return  # a read-only campaign: no body to write
        self.fields["body"].help_text = (
            f"If the text does not say how to opt out, “{OPT_OUT_FOOTER}” is added on its own line when "
            "you save. The counter counts the text as written: personalised values change the length, and a "
            f"recipient whose text would cost more than {settings.SMS_MAX_SEGMENTS} segments is skipped."
        )
        self.fields["body"].widget.attrs["data-max-segments"] = settings.SMS_MAX_SEGMENTS
        # The live counter counts a tracked link as long as its short link, while the box is ticked.
        self.fields["body"].widget.attrs["data-short-link"] = short_link_stand_in()
        self.fields["body"].widget.attrs["data-track-links"] = "id_track_links"

    def _clean_body(self, cleaned: dict) -> None:
        # The service's rule, checked here too so that the page shows it on the field instead of failing the save.
        if "body" in cleaned:
            try:
                campaign_body_as_saved(cleaned["body"], track_links=cleaned.get("track_links", False))
            except ApplicationError as exc:
                self.add_error("body", forms.ValidationError(exc.message, code=exc.code))

    def clean_sender(self):
        try:
            return campaign_sender_clean(sender=self.cleaned_data["sender"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None


def _local_time_label(moment: datetime) -> str:
    """A time in the staff member's timezone, naming it."""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M} ({timezone.get_current_timezone_name()})"


def _button_url(campaign: Campaign, action: CampaignAction) -> str:
    """Where the campaign page's button goes: the preview for send now and schedule, else the action itself."""
    if action.needs_preview:
        return reverse("admin:campaigns_campaign_preview", args=[campaign.pk])
    return reverse("admin:campaigns_campaign_action", args=[campaign.pk, action.name])


def _status_actions(request, campaign: Campaign) -> list[CampaignAction]:
    return [a for a in CAMPAIGN_ACTIONS.values() if a.allowed_for(campaign) and request.user.has_perm(a.permission)]


class CampaignAdminExtension:
    """Something an app above campaigns adds to the campaign page (sends: "Send test to my phone"), without
    campaigns importing it: the app subclasses this and passes an instance to `campaign_admin_extend`."""

    # Included at the foot of the campaign page, after the status actions, when change_view_context gave any.
    template: str = ""

    def get_urls(self, model_admin: admin.ModelAdmin) -> list:
        """More URL patterns under the campaign admin's (name them campaigns_campaign_...)."""
        return []

    def change_view_context(self, request, campaign: Campaign) -> dict:
        """What `template` needs for this campaign and this user; empty when it has nothing to show them."""
        return {}


@admin.register(Campaign)
class CampaignAdmin(CampaignABTestAdminMixin, CampaignProgressAdminMixin, ServiceModelAdmin):
    form = CampaignForm
    list_display = [
        "name",
        "status",
        "scheduled_at",
        "recipients_count",
        "sent_count",
        "delivered_count",
        "failed_count",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["name", "body"]
    list_select_related = ["created_by"]
    filter_horizontal = ["lists", "segments", "excluded_lists", "excluded_segments"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["send_now_selected", "pause_selected", "resume_selected", "cancel_selected"]
    # Filled by campaign_admin_extend, from the admin modules of the apps that extend the page.
    extensions: list[CampaignAdminExtension] = []
    readonly_fields = [
        "placeholders",
        "body_segments",
        "status",
        "status_reason",
        "schedule_time",
        "started_at",
        "completed_at",
        "created_by",
        "created_at",
        "updated_at",
    ]

    class Media:
        js = [
            "campaigns/segment-counter.js",
            "campaigns/campaign-actions.js",
            "campaigns/campaign-progress.js",
            "smscampaigns/staff-timezone.js",
        ]
        css = {"all": ["campaigns/campaign-admin.css"]}

    def get_fieldsets(self, request, obj=None):
        links = ("Links", {"fields": ["track_links", "utm_source", "utm_medium", "utm_campaign"]})
        sending = (
            "When and how often",
            {
                "fields": [
                    "schedule_mode",
                    "local_send_time",
                    "local_time_passed",
                    "skip_recent_hours",
                    "transactional",
                ],
                "description": "Local time: each recipient's share goes when their clock reaches the time (the "
                "zone quiet hours use), still within quiet hours. Frequency caps: see the Frequency cap page; a "
                "transactional campaign bypasses them.",
            },
        )
        audience = ("Audience", {"fields": ["lists", "segments", "excluded_lists", "excluded_segments"]})
        draft = [
            (None, {"fields": ["name", "sender", "sender_pool", "body", "placeholders", "max_per_second"]}),
            audience,
            sending,
            links,
        ]
        if obj is None:
            return draft
        if not self.has_change_permission(request, obj):  # read-only: the server's count replaces the live one
            draft = [
                (None, {"fields": ["name", "sender", "sender_pool", "body", "body_segments", "max_per_second"]}),
                audience,
                sending,
                links,
            ]
        return [
            *draft,
            ("Status", {"fields": ["status", "status_reason", "schedule_time", "started_at", "completed_at"]}),
            ("Record", {"fields": ["created_by", "created_at", "updated_at"]}),
        ]

    def has_change_permission(self, request, obj=None):
        # Only drafts are edited: a scheduled campaign goes back to draft first; a sending or finished one
        # is a record. Its page stays readable (view permission) and keeps its status buttons.
        if obj is not None and not obj.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="placeholders")
    def placeholders(self, obj=None) -> str:
        names = NAME_PLACEHOLDERS + [key for key in contact_attribute_keys() if key not in NAME_PLACEHOLDERS]
        return format_html_join(", ", "<code>{{{{ {} }}}}</code>", ((name,) for name in names))

    @admin.display(description="segments")
    def body_segments(self, obj: Campaign) -> str:
        info = segment_info(text_as_sent(campaign=obj, text=obj.body))
        note = info.forces_ucs2_note
        return format_html(
            "{} characters · {} segment{} · {}{}",
            info.characters,
            info.segments,
            "" if info.segments == 1 else "s",
            info.encoding,
            format_html("<br>{}", note) if note else "",
        )

    @admin.display(description="scheduled for")
    def schedule_time(self, obj: Campaign) -> str:
        return "-" if obj.scheduled_at is None else _local_time_label(obj.scheduled_at)

    def save_model(self, request, obj, form, change):
        try:
            saved = campaign_draft_save(
                campaign=obj,
                actor=request.user,
                changed_fields=form.changed_data,
                created=not change,
                lists=list(form.cleaned_data["lists"]) if "lists" in form.cleaned_data else None,
                audience={part: list(form.cleaned_data[part]) for part in AUDIENCE_PARTS if part in form.cleaned_data},
            )
        except ApplicationError as exc:
            # The engine claimed it between the page load and the save: say so rather than a server error.
            raise PermissionDenied(exc.message) from exc
        if saved.footer_added:
            messages.warning(
                request,
                f"The text did not say how to opt out, so “{OPT_OUT_FOOTER}” was added at the end.",
            )

    def delete_model(self, request, obj):
        campaign_delete(campaign=obj, actor=request.user)

    def save_related(self, request, form, formsets, change):
        # The lists and the rest of the audience were saved with the draft, by campaign_draft_save; only
        # inlines (none today) are left.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    # --- Status buttons --------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.action_view))
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:pk>/action/<str:name>/", view, name="campaigns_campaign_action"),
            path("<int:pk>/preview/", preview, name="campaigns_campaign_preview"),
            *self.progress_urls(),
            *self.ab_test_urls(),
            *(url for extension in self.extensions for url in extension.get_urls(self)),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        extra = extra_context or {}
        if campaign is not None:
            extra = {
                **extra,
                "status_actions": [(a, _button_url(campaign, a)) for a in _status_actions(request, campaign)],
                "schedule_form": ScheduleForm(),
                "staff_timezone": timezone.get_current_timezone_name(),
                "ab_test_url": reverse("admin:campaigns_campaign_ab_test", args=[campaign.pk]),
                **self.progress_context(request, campaign),
                "extension_templates": [],
            }
            for extension in self.extensions:
                if context := extension.change_view_context(request, campaign):
                    extra.update(context)
                    extra["extension_templates"].append(extension.template)
        return super().change_view(request, object_id, form_url, extra)

    def action_view(self, request, pk: int, name: str):
        campaign = get_object_or_404(Campaign, pk=pk)
        action = CAMPAIGN_ACTIONS.get(name)
        if action is None or not request.user.has_perm(action.permission):
            raise PermissionDenied
        scheduled_at = None
        if action.name == "schedule":
            form = ScheduleForm(request.POST)
            if not form.is_valid():
                messages.error(request, f"Not scheduled: {form.errors.as_text()}")
                return redirect("admin:campaigns_campaign_change", campaign.pk)
            scheduled_at = form.cleaned_data["scheduled_at"]
        try:
            perform_campaign_action(
                action=action,
                campaign=campaign,
                user=request.user,
                scheduled_at=scheduled_at,
                preview_token=request.POST.get("preview_token", ""),
            )
        except ApplicationError as exc:
            messages.error(request, f"{action.label}: {exc.message}")
            if exc.code in (PREVIEW_REQUIRED, PREVIEW_STALE):  # straight to the preview as the campaign is now
                query = {
                    "action": action.name,
                    **({"scheduled_at": request.POST["scheduled_at"]} if scheduled_at else {}),
                }
                preview_url = reverse("admin:campaigns_campaign_preview", args=[campaign.pk])
                return redirect(f"{preview_url}?{urlencode(query)}")
        else:
            messages.success(request, f"{campaign}: {action.label.lower()} done, now {campaign.get_status_display()}.")
        return redirect("admin:campaigns_campaign_change", campaign.pk)

    def preview_view(self, request, pk: int):
        """The preview before launch: what send now (or schedule, at the time chosen) would do, and its confirm."""
        campaign = get_object_or_404(Campaign, pk=pk)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        action = CAMPAIGN_ACTIONS["schedule" if request.GET.get("action") == "schedule" else "send_now"]
        schedule_form = ScheduleForm(request.GET) if action.name == "schedule" else None
        scheduled_at = None
        if schedule_form is not None and schedule_form.is_valid():
            scheduled_at = schedule_form.cleaned_data["scheduled_at"]
        may_launch = (
            request.user.has_perm(action.permission)
            and action.allowed_for(campaign)
            and (schedule_form is None or scheduled_at is not None)
        )
        try:
            shown = preview_show(
                campaign=campaign,
                user=request.user,
                action=action.name,
                scheduled_at=scheduled_at,
                may_launch=may_launch,
            )
        except ApplicationError as exc:  # only a body stored around the services can fail to render
            messages.error(request, f"No preview: {exc.message}")
            return redirect("admin:campaigns_campaign_change", campaign.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": campaign,
            "title": f"Preview of {campaign}",
            "shown": shown,
            "action": action,
            "confirm_url": reverse("admin:campaigns_campaign_action", args=[campaign.pk, action.name]),
            "schedule_form": schedule_form,
            # The time chosen, posted back with the confirmation: the token holds for this time only.
            "scheduled_at_value": f"{timezone.localtime(scheduled_at):%Y-%m-%dT%H:%M:%S}" if scheduled_at else "",
            "scheduled_at_label": _local_time_label(scheduled_at) if scheduled_at else "",
            "staff_timezone": timezone.get_current_timezone_name(),
            "may_send": request.user.has_perm(Campaign.SEND_PERMISSION),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/preview.html", context)

    # --- Actions of the list -------------------------------------------------------------------------

    def _run_on_selected(self, request, queryset, name: str, preview_tokens: dict[str, str] | None = None) -> None:
        action = CAMPAIGN_ACTIONS[name]
        for campaign in queryset:
            try:
                perform_campaign_action(
                    action=action,
                    campaign=campaign,
                    user=request.user,
                    preview_token=(preview_tokens or {}).get(str(campaign.pk), ""),
                )
            except ApplicationError as exc:
                messages.error(request, f"{campaign}: {exc.message}")
            else:
                messages.success(request, f"{campaign}: now {campaign.get_status_display()}.")

    def has_send_permission(self, request):
        return request.user.has_perm(Campaign.SEND_PERMISSION)

    @admin.action(description="Send the selected drafts now", permissions=["send"])
    def send_now_selected(self, request, queryset):
        """First the preview of each selected campaign, then, once confirmed, send now with its token."""
        if "confirm" in request.POST:
            prefix = "preview_token_"
            tokens = {key.removeprefix(prefix): value for key, value in request.POST.items() if key.startswith(prefix)}
            self._run_on_selected(request, queryset, "send_now", preview_tokens=tokens)
            return None
        action = CAMPAIGN_ACTIONS["send_now"]
        previews, refused = [], []
        for campaign in queryset:
            if not action.allowed_for(campaign):
                refused.append((campaign, f"it is {campaign.get_status_display().lower()}, not a draft"))
                continue
            try:
                previews.append(preview_show(campaign=campaign, user=request.user, action=action.name, may_launch=True))
            except ApplicationError as exc:  # a body stored around the services that cannot be rendered
                refused.append((campaign, exc.message))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Send the selected drafts now?",
            "previews": previews,
            "refused": refused,
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/send_now_selected.html", context)

    @admin.action(description="Pause the selected campaigns", permissions=["change"])
    def pause_selected(self, request, queryset):
        self._run_on_selected(request, queryset, "pause")

    @admin.action(description="Resume the selected campaigns", permissions=["send"])
    def resume_selected(self, request, queryset):
        self._run_on_selected(request, queryset, "resume")

    @admin.action(description="Cancel the selected campaigns", permissions=["send"])
    def cancel_selected(self, request, queryset):
        self._run_on_selected(request, queryset, "cancel")


def campaign_admin_extend(extension: CampaignAdminExtension) -> None:
    """Add an extension's URLs and panel to the campaign page; call it from the extending app's admin.py."""
    CampaignAdmin.extensions.append(extension)


class SenderPoolForm(forms.ModelForm):
    # Not `numbers`: that name is the pool's related manager, which a read-only page would try to show.
    pool_numbers = forms.CharField(
        label="Numbers",
        required=False,
        max_length=MAX_POOL_NUMBERS * 40,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40}),
        help_text="One number of the account per line (any format), optionally followed by its own rate in "
        "segments per second: “+1 415 555 0190 5”. A Powerpack needs none here (Plivo knows its numbers); "
        "listed, they give the Powerpack's rate as the sum of theirs.",
    )

    class Meta:
        model = SenderPool
        fields = ["name", "kind", "powerpack_uuid", "pool_numbers", "rate_per_number", "sticky_sender", "local_match"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["pool_numbers"] = pool_numbers_text(self.instance)

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["parsed_numbers"] = sender_pool_numbers_parse(cleaned.get("pool_numbers", ""))
            pool = SenderPool(kind=cleaned.get("kind") or "", powerpack_uuid=cleaned.get("powerpack_uuid") or "")
            sender_pool_check(pool=pool, numbers=cleaned["parsed_numbers"])
        except ApplicationError as exc:
            if exc.field == "numbers":
                self.add_error("pool_numbers", exc.message)
            else:
                form_error_from(self, exc)
        return cleaned


def pool_numbers_text(pool: SenderPool) -> str:
    """The pool's numbers as staff type them: one a line, with its own rate when it has one."""
    return "\n".join(f"{n.number} {n.rate}" if n.rate else n.number for n in pool.numbers.all())


@admin.register(SenderPool)
class SenderPoolAdmin(ServiceModelAdmin):
    form = SenderPoolForm
    list_display = ["name", "kind", "number_count", "rate", "sticky_sender", "local_match"]
    search_fields = ["name", "numbers__number", "powerpack_uuid"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("numbers")

    @admin.display(description="numbers")
    def pool_numbers(self, obj: SenderPool) -> str:
        # What a read-only page shows in place of the form's field.
        return pool_numbers_text(obj)

    @admin.display(description="numbers")
    def number_count(self, obj: SenderPool) -> int:
        return len(obj.numbers.all())

    @admin.display(description="segments per second")
    def rate(self, obj: SenderPool) -> int:
        return obj.total_rate

    def save_model(self, request, obj, form, change):
        saved = sender_pool_save(
            pool=obj, numbers=form.cleaned_data["parsed_numbers"], actor=request.user, created=not change
        )
        adopt_saved(obj, saved)

    def delete_model(self, request, obj):
        try:
            sender_pool_delete(pool=obj, actor=request.user)
        except ApplicationError as exc:
            raise PermissionDenied(exc.message) from exc


@admin.register(FrequencyCap)
class FrequencyCapAdmin(ServiceModelAdmin):
    """One page for the global cap: the list goes straight to it; managers change it, everyone reads it."""

    fields = ["max_messages", "window_days", "in_force", "updated_by", "updated_at"]
    readonly_fields = ["in_force", "updated_by", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    actions = None  # one row: nothing to select

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request) or request.method == "POST":
            raise PermissionDenied
        FrequencyCap.objects.get_or_create(pk=FrequencyCap.SINGLETON_ID)
        return redirect(reverse("admin:campaigns_frequencycap_change", args=[FrequencyCap.SINGLETON_ID]))

    @admin.display(description="in force")
    def in_force(self, obj=None) -> str:
        max_messages, window_days = frequency_cap_in_force()
        if not max_messages:
            return "No cap: marketing campaigns are held only to their own “skip anyone texted in the last hours”."
        return (
            f"At most {max_messages} marketing message{'s' if max_messages != 1 else ''} per contact in any "
            f"{window_days} day{'s' if window_days != 1 else ''} (defaults: FREQUENCY_CAP_MAX_MESSAGES="
            f"{settings.FREQUENCY_CAP_MAX_MESSAGES}, FREQUENCY_CAP_WINDOW_DAYS={settings.FREQUENCY_CAP_WINDOW_DAYS})."
        )

    def save_model(self, request, obj, form, change):
        frequency_cap_update(max_messages=obj.max_messages, window_days=obj.window_days, actor=request.user)

    def delete_model(self, request, obj):
        raise PermissionDenied
