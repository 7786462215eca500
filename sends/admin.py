from contextlib import suppress
from functools import cached_property

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters, ShowFacets
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from audit.admin import ReadOnlyAdmin
from campaigns.admin import CampaignAdminExtension, campaign_admin_extend
from campaigns.models import ABTest, Campaign, CampaignVariant
from campaigns.progress_selectors import failure_label
from contacts.models import ContactList, Segment
from contacts.phones import normalize_phone
from sends.models import CampaignSend, DeliveryReport, InboundMessage, LookupRun
from sends.selectors import staff_phone_number
from sends.services.ab_tests import ab_decide, ab_report
from sends.services.lookups import LOOKUP_SCOPES, lookup_estimate, lookup_run_start
from sends.services.staff_test_sends import campaign_test_send_to_staff
from smscampaigns.errors import ApplicationError
from smscampaigns.plivo_errors import PLIVO_ERROR_CODES


class CappedCountPaginator(Paginator):
    """Counts at most CAP + 1 rows (a COUNT over a LIMIT subquery), so a filter that matches a million sends
    costs no more to page through than one matching ten thousand; the list then says "more than CAP"."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.CAP

    @property
    def cap_display(self) -> str:
        return f"{self.CAP:,}"


class CampaignFilter(admin.SimpleListFilter):
    """Sends of one campaign (?campaign=<id>, how the campaign page links here). The choices are the latest
    launched campaigns, not a DISTINCT over the sends nor every campaign ever drafted."""

    title = "campaign"
    parameter_name = "campaign"
    SHOWN = 15

    def campaign_id(self) -> int | None:
        value = self.value()
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise IncorrectLookupParameters(f"campaign must be a campaign id, not {value!r}") from None

    def lookups(self, request, model_admin):
        shown = list(
            Campaign.objects.filter(started_at__isnull=False)
            .order_by("-started_at")
            .values_list("pk", "name")[: self.SHOWN]
        )
        selected = self.campaign_id()
        if selected is not None and selected not in {pk for pk, _ in shown}:
            shown += Campaign.objects.filter(pk=selected).values_list("pk", "name")
        return [(str(pk), name) for pk, name in shown]

    def queryset(self, request, queryset):
        selected = self.campaign_id()
        return queryset if selected is None else queryset.filter(campaign_id=selected)


class ErrorCodeFilter(admin.SimpleListFilter):
    """Sends by error code (?error_code=30). The choices are the selected campaign's failures by code (its
    counter, with their numbers), else Plivo's codes: Django's default filter for a free-text column runs a
    DISTINCT over every send."""

    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request, model_admin):
        campaign_id = request.GET.get(CampaignFilter.parameter_name, "")
        if campaign_id.isdigit():
            counts = (
                Campaign.objects.filter(pk=int(campaign_id)).values_list("failed_by_error_code", flat=True).first()
                or {}
            )
            choices = [
                (code, f"{failure_label(code)} ({n:,})")
                for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
                if code and n
            ]
        else:
            choices = [(code, failure_label(code)) for code in PLIVO_ERROR_CODES]
        if self.value() and self.value() not in dict(choices):
            choices.append((self.value(), failure_label(self.value())))
        return choices

    def queryset(self, request, queryset):
        # With a campaign, this is a range of the partial index (campaign, error_code, id).
        return queryset.filter(error_code=self.value()) if self.value() else queryset


@admin.register(CampaignSend)
class CampaignSendAdmin(ReadOnlyAdmin):
    """Every send, filtered by campaign, status and error code: each filter an index range in id order, and
    never a count of more than CappedCountPaginator.CAP rows, so a million sends list as fast as a hundred.
    The skip-reason filter has no index of its own: it narrows a campaign's skipped sends (the campaign and
    status index) quickly, but alone, a rare reason is looked for across every send."""

    list_display = ["id", "campaign", "to_number", "status", "skip_reason", "error_code", "attempts", "sent_at"]
    list_filter = [CampaignFilter, "status", ErrorCodeFilter, "skip_reason"]
    # Exact matches on indexed columns (see get_search_results): a substring search scans every send.
    search_fields = ["to_number", "provider_message_uuid"]
    search_help_text = "A phone number (any format) or a Plivo message UUID."
    list_select_related = ["campaign"]
    raw_id_fields = ["campaign", "contact"]
    paginator = CappedCountPaginator
    sortable_by = ["id"]  # any other order would sort every matching send
    show_facets = ShowFacets.NEVER  # a count per filter choice: the table scan the paginator avoids

    def get_search_results(self, request, queryset, search_term):
        """A number in any format (normalised) or a message UUID, matched exactly: Django's "=" prefix would
        compare UPPER() of each column, which no index serves."""
        term = search_term.strip()
        if not term:
            return queryset, False
        number = term
        with suppress(ApplicationError):  # not a phone number: perhaps a message UUID
            number = normalize_phone(term).e164
        return queryset.filter(Q(to_number=number) | Q(provider_message_uuid=term)), False


@admin.register(DeliveryReport)
class DeliveryReportAdmin(ReadOnlyAdmin):
    list_display = ["message_uuid", "status", "error_code", "units", "total_amount", "received_at"]
    list_filter = ["status", "error_code"]
    search_fields = ["message_uuid"]
    raw_id_fields = ["send"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    """What people texted us and what was done about it (opt-out, opt-in, help, none)."""

    list_display = ["received_at", "from_number", "contact", "text", "action", "to_number", "intent"]
    # No date_hierarchy or filter on a free-text column: each would run a DISTINCT over the whole table per view.
    list_filter = ["action", "intent", "received_at"]
    search_fields = ["from_number", "text"]
    list_select_related = ["contact"]
    raw_id_fields = ["contact"]


# --- "Send test to my phone" on the campaign page ------------------------------------------------------
# The test send is a sends service (it needs an SMS backend) and campaigns may not import sends, so sends
# adds the button and its view to the campaign page through the campaigns admin's extension hook.


class StaffTestSendForm(forms.Form):
    phone_number = forms.CharField(
        max_length=32, label="My phone", help_text="Any format; remembered for your next test"
    )


def _may_test(request, campaign: Campaign) -> bool:
    return request.user.has_perm(Campaign.SEND_PERMISSION) and campaign.may_test_send


class CampaignTestSendExtension(CampaignAdminExtension):
    template = "admin/sends/campaign/test_send_panel.html"

    def get_urls(self, model_admin):
        view = model_admin.admin_site.admin_view(require_POST(self.test_send_view))
        return [path("<int:pk>/test-send/", view, name="campaigns_campaign_test_send")]

    def change_view_context(self, request, campaign: Campaign) -> dict:
        if not _may_test(request, campaign):
            return {}
        return {
            "test_send_form": StaffTestSendForm(initial={"phone_number": staff_phone_number(user=request.user)}),
            "test_send_url": reverse("admin:campaigns_campaign_test_send", args=[campaign.pk]),
        }

    def test_send_view(self, request, pk: int):
        campaign = get_object_or_404(Campaign, pk=pk)
        if not request.user.has_perm(Campaign.SEND_PERMISSION):
            raise PermissionDenied
        back = redirect("admin:campaigns_campaign_change", campaign.pk)
        if not _may_test(request, campaign):
            messages.error(request, f"No test: the campaign is {campaign.get_status_display().lower()}.")
            return back
        form = StaffTestSendForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"No test: {form.errors.as_text()}")
            return back
        try:
            result = campaign_test_send_to_staff(
                campaign=campaign, phone_number=form.cleaned_data["phone_number"], actor=request.user
            )
        except ApplicationError as exc:
            messages.error(request, f"No test: {exc.message}")
            return back
        if result.ok:
            messages.success(
                request,
                f"Test sent to {result.to_number} ({result.segments} segment{'s' if result.segments != 1 else ''}): "
                f"“{result.body}”",
            )
        else:
            messages.error(
                request, f"The test to {result.to_number} failed: {result.error_message} ({result.error_code})"
            )
        return back


campaign_admin_extend(CampaignTestSendExtension())


# --- Number lookups ----------------------------------------------------------------------------------------


class LookupStartForm(forms.Form):
    contact_list = forms.ModelChoiceField(
        queryset=ContactList.objects.all(),
        label="List",
        required=False,
        help_text="Every contact of the list whose lookup is due",
    )
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.all(),
        required=False,
        help_text="Or every contact the segment matches now whose lookup is due",
    )

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("contact_list")) == bool(cleaned.get("segment")):
            raise forms.ValidationError("Choose a list or a segment (one of them).")
        return cleaned

    def scope(self) -> tuple[str, int]:
        """("list" | "segment", its id) of a valid form."""
        if self.cleaned_data.get("segment"):
            return "segment", self.cleaned_data["segment"].pk
        return "list", self.cleaned_data["contact_list"].pk


@admin.register(LookupRun)
class LookupRunAdmin(admin.ModelAdmin):
    """Bulk carrier lookups: started from "Add" (which shows the estimated cost first), then followed live.
    A run is a record: never edited or deleted here."""

    list_display = ["__str__", "status", "progress", "looked_up", "failed", "cost", "created_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["created_by"]
    show_full_result_count = False
    actions = None

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="done")
    def progress(self, obj: LookupRun) -> str:
        return f"{obj.percent_done}% of {obj.total}"

    def get_urls(self):
        progress = self.admin_site.admin_view(self.progress_view)
        return [
            path("<int:pk>/progress.json", progress, name="sends_lookuprun_progress"),
            *super().get_urls(),
        ]

    def _panel(self, request, run: LookupRun) -> dict:
        return {
            "run": run,
            "live": run.status in (LookupRun.Status.PENDING, LookupRun.Status.RUNNING),
            "progress_url": reverse("admin:sends_lookuprun_progress", args=[run.pk]),
        }

    def progress_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(LookupRun, pk=pk)
        html = render_to_string("admin/sends/lookuprun/progress_panel.html", self._panel(request, run), request)
        return JsonResponse({"status": run.status, "percent_done": run.percent_done, "html": html})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method != "GET" or not self.has_view_permission(request):
            raise PermissionDenied  # a run's page is read-only: its progress, never a form
        run = get_object_or_404(LookupRun.objects.select_related("created_by"), pk=object_id)
        context = {**self.admin_site.each_context(request), "opts": self.opts, **self._panel(request, run)}
        return TemplateResponse(request, "admin/sends/lookuprun/progress.html", context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {
            field: request.GET.get(parameter)
            for parameter, field in (("list", "contact_list"), ("segment", "segment"))
            if request.GET.get(parameter, "").isdigit()
        }
        form = LookupStartForm(request.POST or None, initial=initial)
        estimate = estimated_for = None
        if request.method == "POST" and form.is_valid():
            scope, scope_id = form.scope()
            estimated_for = f"{scope}:{scope_id}"
            # Confirmed only for the choice the estimate was shown for: a changed choice is estimated anew.
            if "confirm" in request.POST and request.POST.get("estimated_for") == estimated_for:
                try:
                    run = lookup_run_start(scope=scope, scope_id=scope_id, actor=request.user)
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                else:
                    messages.success(request, f"Looking up {run.total} numbers of {run.scope_label}.")
                    return redirect("admin:sends_lookuprun_change", run.pk)
            estimate = lookup_estimate(contacts=LOOKUP_SCOPES[scope].contacts(scope_id))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Look up numbers",
            "form": form,
            "estimate": estimate,
            "estimated_for": estimated_for if estimate else "",
            "price": settings.NUMBER_LOOKUP_PRICE,
            "max_age_days": settings.NUMBER_LOOKUP_MAX_AGE_DAYS,
            "excluded_line_types": ", ".join(settings.NUMBER_LOOKUP_EXCLUDED_LINE_TYPES) or "none",
        }
        return TemplateResponse(request, "admin/sends/lookuprun/start.html", context)


# The intervals' drawing: rates from 0 to the largest upper bound across a plot this many units wide.
AB_PLOT_WIDTH, AB_PLOT_MARGIN = 280, 10


def _ab_plot(report: dict) -> None:
    """Add each variant's interval and rate as x positions of the inline SVG (drawn in the template)."""
    top = max([v["high"] for v in report["variants"]] + [0.01])
    for variant in report["variants"]:
        for name in ("low", "rate", "high"):
            variant[f"x_{name}"] = round(AB_PLOT_MARGIN + variant[name] / top * AB_PLOT_WIDTH, 1)
            variant[f"{name}_percent"] = round(variant[name] * 100, 1)
    report["plot_width"] = AB_PLOT_WIDTH + 2 * AB_PLOT_MARGIN
    report["plot_top"] = top


class CampaignABTestExtension(CampaignAdminExtension):
    """The variants side by side on the campaign page: rates, intervals, the decision and why; staff with the
    send permission may decide now or pick the winner by hand."""

    template = "admin/sends/campaign/ab_test_panel.html"

    def get_urls(self, model_admin):
        view = model_admin.admin_site.admin_view(require_POST(self.decide_view))
        return [path("<int:pk>/ab-decide/", view, name="campaigns_campaign_ab_decide")]

    def change_view_context(self, request, campaign: Campaign) -> dict:
        if not ABTest.objects.filter(campaign=campaign).exists() or campaign.status == Campaign.Status.DRAFT:
            return {}
        report = ab_report(campaign=campaign)
        _ab_plot(report)
        may_decide = (
            request.user.has_perm(Campaign.SEND_PERMISSION)
            and report["phase"] in ("testing", "waiting")
            and campaign.status in (Campaign.Status.SENDING, Campaign.Status.PAUSED)
        )
        return {
            "ab": report,
            "ab_may_decide": may_decide,
            "ab_decide_url": reverse("admin:campaigns_campaign_ab_decide", args=[campaign.pk]),
        }

    def decide_view(self, request, pk: int):
        campaign = get_object_or_404(Campaign, pk=pk)
        if not request.user.has_perm(Campaign.SEND_PERMISSION):
            raise PermissionDenied
        back = redirect("admin:campaigns_campaign_change", campaign.pk)
        label = request.POST.get("variant", "")
        variant = None
        if label:
            variant = CampaignVariant.objects.filter(campaign=campaign, label=label[:1]).first()
            if variant is None:
                messages.error(request, "No such variant.")
                return back
        try:
            winner = ab_decide(campaign=campaign, actor=request.user, variant=variant)
        except ApplicationError as exc:
            messages.error(request, f"Not decided: {exc.message}")
            return back
        messages.success(request, f"Variant {winner.label} won; the rest of the audience gets it now.")
        return back


campaign_admin_extend(CampaignABTestExtension())
