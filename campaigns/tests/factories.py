import factory

from campaigns.models import Campaign


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    body = "Hi {{ first_name }}, our sale starts today. Reply STOP to opt out"
    sender = "+14155550100"
