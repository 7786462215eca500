"""The global frequency cap, as managers change it in the admin (a single row over the settings' defaults)."""

from django.db import transaction

from audit.services import audit_record, user_or_none
from campaigns.models import FrequencyCap
from smscampaigns.errors import ApplicationError

MAX_WINDOW_DAYS = 366


def frequency_cap_update(*, max_messages: int | None, window_days: int | None, actor) -> FrequencyCap:
    """Set the global cap (None: back to the setting's default), audited with the values before and after."""
    if max_messages is not None and not 0 <= max_messages <= 1000:
        raise ApplicationError("the cap is 0 (no cap) to 1000 messages", field="max_messages")
    if window_days is not None and not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ApplicationError(f"the window is 1 to {MAX_WINDOW_DAYS} days", field="window_days")
    with transaction.atomic():
        cap, _ = FrequencyCap.objects.select_for_update().get_or_create(pk=FrequencyCap.SINGLETON_ID)
        before = {"max_messages": cap.max_messages, "window_days": cap.window_days}
        cap.max_messages, cap.window_days = max_messages, window_days
        cap.updated_by = user_or_none(actor)
        cap.save()
        audit_record(
            actor=actor,
            action="frequency_cap.changed",
            target=cap,
            data={"before": before, "after": {"max_messages": max_messages, "window_days": window_days}},
        )
    return cap
