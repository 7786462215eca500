"""A campaign's results as CSV, one row per recipient, streamed in id order a batch at a time, so that a
campaign of millions is exported in constant memory and without one long-lived query."""

import io
from collections.abc import Iterator

from campaigns.models import Campaign
from sends.models import CampaignSend
from sends.selectors import sends_with_clicks
from smscampaigns.spreadsheets import spreadsheet_safe_writer

BATCH = 5000
COLUMNS = [
    ("send_id", "id"),
    ("phone_number", "to_number"),
    ("contact_id", "contact_id"),
    ("first_name", "contact__first_name"),
    ("last_name", "contact__last_name"),
    ("status", "status"),
    ("skip_reason", "skip_reason"),
    ("error_code", "error_code"),
    ("error_message", "error_message"),
    ("segments", "segments"),
    ("cost", "cost"),
    ("clicks", "human_clicks"),  # the recipient's clicks on their short links, people only (repeats included)
    ("attempts", "attempts"),
    ("sent_at", "sent_at"),
    ("status_updated_at", "status_updated_at"),
    ("provider_message_uuid", "provider_message_uuid"),
]


def campaign_results_rows(*, campaign: Campaign) -> Iterator[tuple]:
    """The header, then each recipient's send: who, status, why skipped, error, segments, cost, clicks, when."""
    yield tuple(name for name, _ in COLUMNS)
    fields = [field for _, field in COLUMNS]
    last_id = 0
    while True:
        batch = list(
            sends_with_clicks(CampaignSend.objects.filter(campaign_id=campaign.pk, id__gt=last_id))
            .order_by("id")
            .values_list(*fields)[:BATCH]
        )
        if not batch:
            return
        for row in batch:
            yield tuple(
                "" if value is None else value.isoformat() if hasattr(value, "isoformat") else value for value in row
            )
        last_id = batch[-1][0]


def campaign_results_csv(*, campaign: Campaign) -> Iterator[str]:
    """campaign_results_rows as CSV text, a batch of lines per chunk; cells typed by people are never run
    as formulas by a spreadsheet (smscampaigns.spreadsheets)."""
    buffer = io.StringIO()
    writer = spreadsheet_safe_writer(buffer)
    for n, row in enumerate(campaign_results_rows(campaign=campaign), start=1):
        writer.writerow(row)
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def campaign_results_filename(campaign: Campaign) -> str:
    return f"campaign-{campaign.pk}-results.csv"
