import uuid

import factory
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from sends.models import CampaignSend
from sends.services.counters import campaign_counters_rebuild


class CampaignSendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignSend

    campaign = factory.SubFactory(CampaignFactory)
    contact = factory.SubFactory(ContactFactory)
    to_number = factory.LazyAttribute(lambda send: str(send.contact.phone_number))
    body = "Hi there"


def sent_send(campaign=None, **fields) -> CampaignSend:
    """A send handed to Plivo (what dispatch leaves behind), waiting for its delivery report, with the campaign
    counters to match."""
    send = CampaignSendFactory(
        campaign=campaign or CampaignFactory(status=Campaign.Status.SENDING),
        status=CampaignSend.Status.SENT,
        provider_message_uuid=str(uuid.uuid4()),
        sent_at=timezone.now(),
        segments=1,
        **fields,
    )
    campaign_counters_rebuild(campaign_id=send.campaign_id)
    return send
