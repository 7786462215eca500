import factory

from campaigns.models import Campaign


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    body = "Hi {{ first_name }}, our sale starts today. Reply STOP to opt out"
    sender = "+14155550100"


def campaign_to(contacts, **fields) -> Campaign:
    """A draft for a list made of `contacts`, with a body that already says how to opt out."""
    from contacts.tests.factories import ContactListFactory

    audience = ContactListFactory()
    for contact in contacts:
        contact.lists.add(audience)
    campaign = CampaignFactory(body="Sale today. STOP to opt out", **fields)
    campaign.lists.add(audience)
    return campaign
