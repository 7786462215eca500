import factory

from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from sends.models import CampaignSend


class CampaignSendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignSend

    campaign = factory.SubFactory(CampaignFactory)
    contact = factory.SubFactory(ContactFactory)
    to_number = factory.LazyAttribute(lambda send: str(send.contact.phone_number))
    body = "Hi there"
