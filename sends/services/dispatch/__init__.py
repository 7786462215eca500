"""Dispatch: queued sends go out through the SMS backend, each exactly once, within the law.

Celery messages carry a campaign id and a range of send ids (DISPATCH_CHUNK_SIZE sends); each send in it
is its own job with its own status and attempts. For one chunk (`chunks`):

1. re-check consent, opt-out and suppression (campaigns.selectors, the audience rules) and skip those who
   may no longer be texted; defer those outside quiet hours to the start of their next window; render
   each body and skip those whose text is too long (`screening`); group recipients who share one text,
   to use the provider's bulk form, and pack the requests into waves (`chunks`);
2. per wave: wait for the sender's rate (segments), then claim the sends, queued -> sending, in one
   short transaction that also re-checks the campaign is still sending and the recipients still
   eligible (`claiming`), then call the backend (`sending`: up to DISPATCH_CONNECTIONS requests at once,
   each after its turn at the rate; the next wave is claimed while one is in flight), then record each
   result (`recording`). The claim is what makes a redelivered or duplicated chunk harmless: it can only
   take sends that are still queued.

A send left in `sending` means the process died between the claim and recording the result: it is never
sent again blindly but reconciled (`reconciliation`).

Each campaign keeps at most DISPATCH_WINDOW_CHUNKS chunk messages in the broker (`window`: a counter in
the cache, refreshed as chunks progress); each finished chunk tops the window up, and the beat tick
(`housekeeping`) does too, which is also how retries and quiet-hours deferrals that became due, and chunks
lost with a killed worker, are picked up.
"""

from sends.services.dispatch.chunks import sends_dispatch_chunk
from sends.services.dispatch.housekeeping import campaign_complete_if_done, sends_cancel_queued, sends_dispatch_tick
from sends.services.dispatch.reconciliation import sends_reconcile_stuck
from sends.services.dispatch.recording import retry_delay
from sends.services.dispatch.window import dispatch_top_up

__all__ = [
    "campaign_complete_if_done",
    "dispatch_top_up",
    "retry_delay",
    "sends_cancel_queued",
    "sends_dispatch_chunk",
    "sends_dispatch_tick",
    "sends_reconcile_stuck",
]
