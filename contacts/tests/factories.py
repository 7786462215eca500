import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone as django_timezone

from contacts.models import Contact, ContactList, Segment, Suppression
from contacts.services.subscriptions import ListOptIn


def csv_upload(text: str, name: str = "contacts.csv") -> SimpleUploadedFile:
    """A CSV file as a browser or an integration uploads it."""
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def fictional_number(n: int) -> str:
    """+1 415 555 01xx and onwards: numbers reserved for fiction that phonenumbers accepts as valid."""
    return f"+1415555{n % 10000:04d}"


class ContactListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactList

    name = factory.Sequence(lambda n: f"List {n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    # From +1 415 555 0101: 0100 is the campaigns' sender (CampaignFactory), which the simulator refuses to text.
    phone_number = factory.Sequence(lambda n: fictional_number(101 + n))
    country = "US"
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    timezone = "America/Los_Angeles"
    status = Contact.Status.SUBSCRIBED
    consented_at = factory.LazyFunction(django_timezone.now)
    consent_source = "web form"


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    phone_number = factory.Sequence(lambda n: fictional_number(5000 + n))
    reason = Suppression.Reason.MANUAL


def contacts_with_every_reason_not_to_text() -> dict[str, Contact]:
    """One contact for each reason not to text someone, beside one who may be texted (`eligible`)."""
    people = {
        "eligible": ContactFactory(),
        "opted_out": ContactFactory(status=Contact.Status.UNSUBSCRIBED, opted_out_at="2026-01-01T00:00Z"),
        "stop_suppressed": ContactFactory(),
        "do_not_call": ContactFactory(),
        "no_consent": ContactFactory(status=Contact.Status.UNSUBSCRIBED, consented_at=None, consent_source=""),
        "invalid": ContactFactory(),
    }
    SuppressionFactory(phone_number=people["stop_suppressed"].phone_number, reason=Suppression.Reason.OPT_OUT)
    SuppressionFactory(phone_number=people["stop_suppressed"].phone_number, reason=Suppression.Reason.MANUAL)
    SuppressionFactory(phone_number=people["do_not_call"].phone_number, reason=Suppression.Reason.DO_NOT_CALL)
    # Written around the services, the way a raw SQL fix or an old import could leave it.
    Contact.objects.filter(pk=people["invalid"].pk).update(phone_number="555-0199")
    return people


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    rules = factory.LazyFunction(
        lambda: {
            "match": "all",
            "groups": [{"match": "all", "conditions": [{"field": "country", "operator": "in", "value": ["US"]}]}],
        }
    )


def rules(*groups, match: str = "all") -> dict:
    """Segment rules from groups given as lists of (field, operator, value) conditions, each group "all"."""
    return {
        "match": match,
        "groups": [
            {"match": "all", "conditions": [condition_dict(*condition) for condition in group]} for group in groups
        ],
    }


def condition_dict(field: str, operator: str, value=None, **extra) -> dict:
    return {"field": field, "operator": operator, **({"value": value} if value is not None else {}), **extra}


def list_opt_in(**values) -> ListOptIn:
    """How people join a list by themselves, as the admin form gives it: a double opt-in page /join/deals/."""
    defaults = {
        "slug": "deals",
        "opt_in_mode": ContactList.OptInMode.DOUBLE,
        "program_name": "Acme Deals",
        "message_frequency": "Up to 4 msgs/month",
        "disclosure_text": "I agree to receive recurring marketing texts from Acme Deals.",
        "welcome_message": "",
        "keywords": [],
    }
    return ListOptIn(**{**defaults, **values})
