"""The window of chunk messages a campaign keeps in the broker (sends.services.dispatch.window): its count
stays true while chunks finish in other processes, since the pass that picks up retries and deferrals that
have become due waits for that count to reach zero."""

import pytest
from django.core.cache import cache

from campaigns.services.lifecycle import campaign_send_now
from sends.services import fanout
from sends.services.dispatch import window
from sends.tests.test_engine import make_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime")]


class ChunkFinishesDuringRead:
    """The cache as the topping-up process sees it when another worker's chunk finishes (and releases its
    place) right after the top-up read the count."""

    def __init__(self, real, *, key: str, campaign_id: int):
        self.real, self.key, self.campaign_id, self.finished = real, key, campaign_id, False

    def get(self, key, *args, **kwargs):
        value = self.real.get(key, *args, **kwargs)
        if key == self.key and not self.finished:
            self.finished = True
            window.window_release(self.campaign_id)
        return value

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_chunk_finishing_while_the_window_is_topped_up_keeps_the_count_true(staff_user, settings, monkeypatch):
    settings.DISPATCH_CHUNK_SIZE = 2
    campaign, _ = make_campaign(6)
    campaign_send_now(campaign=campaign, actor=staff_user)
    fanout.campaigns_launch_due()  # the top-up after launch waits for a commit that never comes here
    outstanding_key, cursor_key, _ = window.window_keys(campaign.pk)
    cache.set(outstanding_key, 1, timeout=60)  # one chunk message in the broker, about to finish
    cache.delete(cursor_key)
    monkeypatch.setattr(window, "cache", ChunkFinishesDuringRead(cache, key=outstanding_key, campaign_id=campaign.pk))

    queued = window.dispatch_top_up(campaign_id=campaign.pk)

    assert queued == 3
    # The chunk that finished is no longer counted: three in the broker, not four. A count one too high
    # never returns to zero, and retries wait for the window's lease to lapse.
    assert cache.get(outstanding_key) == 3
