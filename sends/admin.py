from contextlib import suppress
from functools import cached_property

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters, ShowFacets
from django.core.paginator import Paginator
from django.db.models import Q

from audit.admin import ReadOnlyAdmin
from campaigns.models import Campaign
from campaigns.progress_selectors import failure_label
from contacts.phones import normalize_phone
from sends.models import CampaignSend, DeliveryReport, InboundMessage
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
    never a count of more than CappedCountPaginator.CAP rows, so a million sends list as fast as a hundred."""

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
