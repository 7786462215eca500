"""Hostile input to the Plivo webhooks: callbacks correctly signed (so they reach the handlers) whose fields
are too long, of the wrong kind, in non-ASCII digits, huge, NUL-laden, undecodable, HTML, empty, missing or
given twice; bodies that are not forms; and signatures forged, mixed or replayed.

Each one is answered 400 naming the field, or a 2xx that did the right thing: never a server error, and a
refused one leaves every table as it was. Plivo does not retry a 4xx, so a 400 ends a callback that would
fail the same way forever; a 500 would be retried for hours.
"""

import json
import logging
import uuid
from decimal import Decimal
from urllib.parse import quote_plus, urlencode

import pytest
from django.core.cache import cache
from django.db import transaction
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Campaign
from contacts.models import Contact, Suppression
from contacts.tests.factories import ContactFactory
from sends.models import CampaignSend, DeliveryReport, InboundMessage
from sends.services.counters import campaign_counters_rebuild
from sends.services.delivery_reports import delivery_reports_drain
from sends.simulator.callbacks import signed_headers as simulator_signed_headers
from sends.tests.factories import sent_send
from sends.tests.plivo_callbacks import (
    AUTH_TOKEN,
    INBOUND_PATH,
    STATUS_PATH,
    inbound_payload,
    plivo_signing,  # noqa: F401 (fixture)
    signed_headers,
    status_payload,
)

FORM = "application/x-www-form-urlencoded"
MISSING = object()  # the field left out
# Bytes that are not UTF-8 (a lone surrogate encoded as if it were, then a stray continuation byte): the
# form decoder turns them into U+FFFD, which is what the signature then covers.
UNDECODABLE = b"%ED%A0%80%80"
HTML = "<script>alert(1)</script>"
OK = "2xx"


def _body(pairs: list[tuple[str, str | bytes]]) -> bytes:
    """A form body from (name, value) pairs, repeats kept; a bytes value goes in already percent-encoded."""
    encoded = (
        f"{quote_plus(name)}={value.decode() if isinstance(value, bytes) else quote_plus(value)}"
        for name, value in pairs
    )
    return "&".join(encoded).encode()


def post_signed(client, path: str, body: bytes, *, content_type: str = FORM, versions=("v2", "ma-v2", "v3")):
    """POST `body` signed as Plivo would sign it: V3 over the fields as the app will read them."""
    fields = dict(QueryDict(body).lists()) if content_type == FORM else {}
    headers = signed_headers(url="http://testserver" + path, params=fields, versions=versions)
    return client.generic("POST", path, body, content_type=content_type, headers=headers)


def with_field(payload: dict[str, str], name: str, value) -> list[tuple[str, str | bytes]]:
    pairs = [(key, item) for key, item in payload.items() if key != name]
    return pairs if value is MISSING else [*pairs, (name, value)]


def everything() -> dict[str, list]:
    """Every row a callback could write or change, to show that a refused one changed none."""
    return {
        model.__name__: sorted(model.objects.values_list(), key=lambda row: row[0])
        for model in (DeliveryReport, InboundMessage, Suppression, Contact, CampaignSend, Campaign)
    }


def in_arabic_indic_digits(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


@pytest.fixture
def sent():
    return sent_send()


STATUS_CASES = [
    ("MessageUUID", "x" * 65, "MessageUUID"),
    ("MessageUUID", "", "MessageUUID"),
    ("MessageUUID", "   ", "MessageUUID"),
    ("MessageUUID", MISSING, "MessageUUID"),
    ("MessageUUID", HTML, OK),
    ("MessageUUID", "abc\x00def", OK),
    ("MessageUUID", UNDECODABLE, OK),
    ("MessageUUID", "١٢٣", OK),
    ("Status", "s" * 33, "Status"),
    ("Status", "İ" * 20, "Status"),  # 20 letters, 40 once lower-cased
    ("Status", "", "Status"),
    ("Status", MISSING, "Status"),
    ("Status", HTML, OK),  # stored, moves nothing: not a status we know
    ("Status", UNDECODABLE, OK),
    ("Status", "deli\x00vered", OK),
    ("Units", "²", "Units"),
    ("Units", "٣", "Units"),
    ("Units", "１", "Units"),
    ("Units", "99999999999", "Units"),
    ("Units", "32768", "Units"),
    ("Units", "-1", "Units"),
    ("Units", "1.5", "Units"),
    ("Units", "1e3", "Units"),
    ("Units", HTML, "Units"),
    ("Units", UNDECODABLE, "Units"),
    ("Units", "", OK),
    ("Units", MISSING, OK),
    ("Units", "32767", OK),
    ("TotalAmount", "1e20", "TotalAmount"),
    ("TotalAmount", "100000", "TotalAmount"),
    ("TotalAmount", "9" * 40, "TotalAmount"),
    ("TotalAmount", "NaN", "TotalAmount"),
    ("TotalAmount", "Infinity", "TotalAmount"),
    ("TotalAmount", "-0.1", "TotalAmount"),
    ("TotalAmount", "١٢", "TotalAmount"),
    ("TotalAmount", "½", "TotalAmount"),
    ("TotalAmount", "0x10", "TotalAmount"),
    ("TotalAmount", HTML, "TotalAmount"),
    ("TotalAmount", UNDECODABLE, "TotalAmount"),
    ("TotalAmount", "99999.99999", OK),
    ("TotalAmount", "0.000004", OK),
    ("TotalAmount", "", OK),
    ("ErrorCode", "9" * 17, "ErrorCode"),
    ("ErrorCode", "<i>1</i>", OK),
    ("To", "A" * 40, OK),  # read only for a carrier opt-out, as a phone number or not at all
    ("To", UNDECODABLE, OK),
    ("From", "A" * 40, OK),  # kept in the stored payload only
    ("Sequence", "9" * 400, OK),
    ("MessageTime", HTML, OK),
    (HTML, HTML, OK),  # a field nobody reads, under a hostile name
    ("Units\x00", "²", "Units"),  # the NUL goes, and then it is Units
]

INBOUND_CASES = [
    ("From", "A" * 40, "From"),
    ("From", "1" * 33, "From"),
    ("From", "", "From"),
    ("From", MISSING, "From"),
    ("From", HTML, OK),  # a sender name: kept, not acted on
    ("From", UNDECODABLE, OK),
    ("To", "1" * 33, "To"),
    ("To", "", OK),
    ("To", HTML, OK),
    ("MessageUUID", "x" * 65, "MessageUUID"),
    ("MessageUUID", "", "MessageUUID"),
    ("MessageUUID", MISSING, "MessageUUID"),
    ("MessageUUID", HTML, OK),
    ("MessageUUID", UNDECODABLE, OK),
    ("Text", "x" * 5000, OK),
    ("Text", HTML, OK),
    ("Text", UNDECODABLE, OK),
    ("Text", "", OK),
    ("Text", MISSING, OK),
    ("MessageIntent", "x" * 100, OK),
    ("MessageIntent", UNDECODABLE, OK),
    ("Units", "²", OK),  # not read from an inbound text
    ("TotalAmount", "1e20", OK),
]


def case_id(case) -> str:
    name, value, outcome = case
    shown = "missing" if value is MISSING else "undecodable" if value is UNDECODABLE else repr(value)[:20]
    return f"{name[:12]!r}={shown}->{outcome}"


@pytest.mark.django_db
@pytest.mark.usefixtures("plivo_signing")
class TestHostileWebhookInput:
    def assert_refused(self, response, *, field: str, before: dict, sms_outbox) -> None:
        assert response.status_code == 400, response.content
        assert response.json()["field"] == field
        assert field.strip("\x00") in response.json()["error"] or field == "Content-Type"
        assert everything() == before  # nothing half-applied
        assert not sms_outbox

    # --- delivery reports ---------------------------------------------------------------------------------

    @pytest.mark.parametrize("case", STATUS_CASES, ids=case_id)
    def test_status_callback_field(self, client, sent, sms_outbox, case):
        name, value, outcome = case
        payload = status_payload(message_uuid=sent.provider_message_uuid, status="delivered", to=sent.to_number)
        before = everything()
        response = post_signed(client, STATUS_PATH, _body(with_field(payload, name, value)))
        if outcome != OK:
            self.assert_refused(response, field=outcome, before=before, sms_outbox=sms_outbox)
            return
        assert response.status_code == 200, response.content
        delivery_reports_drain()
        report = DeliveryReport.objects.get()
        assert "\x00" not in str(report.payload)
        kept = Campaign.objects.values_list("delivered_count", "segments_count", "cost").get()
        campaign_counters_rebuild(campaign_id=sent.campaign_id)
        assert Campaign.objects.values_list("delivered_count", "segments_count", "cost").get() == kept
        sent.refresh_from_db()
        # Only a changed MessageUUID (another message) or Status (one we do not know) leaves the send as it
        # was; a NUL inside the status word is dropped, and then it is "delivered".
        applied = name not in ("MessageUUID", "Status") or value == "deli\x00vered"
        assert sent.status == (CampaignSend.Status.DELIVERED if applied else CampaignSend.Status.SENT)
        assert (report.send_id == sent.pk) == (name != "MessageUUID")

    def test_a_refused_field_is_logged_with_its_name(self, client, sent, caplog):
        payload = status_payload(message_uuid="x" * 65, status="delivered", to=sent.to_number)
        with caplog.at_level(logging.WARNING):
            assert post_signed(client, STATUS_PATH, _body(list(payload.items()))).status_code == 400
        [record] = [r.msg for r in caplog.records if "plivo_webhook_malformed" in str(r.msg)]
        assert record["field"] == "MessageUUID"
        assert "at most 64 characters" in record["error"]

    def test_status_callback_amounts_are_rounded_to_the_column(self, client, sent):
        payload = status_payload(message_uuid=sent.provider_message_uuid, status="delivered", to=sent.to_number)
        payload.update(Units="3", TotalAmount="0.0165049")
        assert post_signed(client, STATUS_PATH, _body(list(payload.items()))).status_code == 200
        delivery_reports_drain()
        sent.refresh_from_db()
        assert (sent.segments, sent.cost) == (3, Decimal("0.01650"))

    @pytest.mark.parametrize("name", ["MessageUUID", "Status", "Units"])
    def test_status_field_given_twice_is_refused(self, client, sent, sms_outbox, name):
        payload = status_payload(message_uuid=sent.provider_message_uuid, status="delivered", to=sent.to_number)
        before = everything()
        response = post_signed(client, STATUS_PATH, _body([*payload.items(), (name, payload[name] or "1")]))
        self.assert_refused(response, field=name, before=before, sms_outbox=sms_outbox)

    # --- inbound texts ------------------------------------------------------------------------------------

    @pytest.mark.parametrize("case", INBOUND_CASES, ids=case_id)
    def test_inbound_text_field(self, client, sms_outbox, case):
        name, value, outcome = case
        contact = ContactFactory()
        payload = inbound_payload(sender=str(contact.phone_number), text="STOP")
        before = everything()
        response = post_signed(client, INBOUND_PATH, _body(with_field(payload, name, value)))
        if outcome != OK:
            self.assert_refused(response, field=outcome, before=before, sms_outbox=sms_outbox)
            return
        assert response.status_code == 200, response.content
        message = InboundMessage.objects.get()
        assert "\x00" not in message.text + str(message.payload)
        contact.refresh_from_db()
        stop_honoured = message.action == InboundMessage.Action.OPT_OUT
        assert (contact.status == Contact.Status.UNSUBSCRIBED) == stop_honoured
        assert Suppression.objects.filter(phone_number=contact.phone_number).exists() == stop_honoured
        assert stop_honoured == (name not in ("From", "Text")), "only a changed sender or text changes the STOP"

    @pytest.mark.parametrize("written", ["with a NUL inside", "in Arabic-Indic digits"])
    def test_inbound_stop_from_a_number_written_oddly_is_honoured(self, client, written):
        contact = ContactFactory()
        digits = str(contact.phone_number).lstrip("+")
        sender = digits[:4] + "\x00" + digits[4:] if written == "with a NUL inside" else in_arabic_indic_digits(digits)
        payload = inbound_payload(sender=str(contact.phone_number), text="STOP")
        response = post_signed(client, INBOUND_PATH, _body(with_field(payload, "From", sender)))
        assert response.status_code == 200
        contact.refresh_from_db()
        assert contact.status == Contact.Status.UNSUBSCRIBED

    @pytest.mark.parametrize("name", ["From", "Text", "MessageUUID"])
    def test_inbound_field_given_twice_is_refused(self, client, sms_outbox, name):
        contact = ContactFactory()
        payload = inbound_payload(sender=str(contact.phone_number), text="STOP")
        before = everything()
        other = {"From": "14155550199", "Text": "START", "MessageUUID": str(uuid.uuid4())}[name]
        response = post_signed(client, INBOUND_PATH, _body([*payload.items(), (name, other)]))
        self.assert_refused(response, field=name, before=before, sms_outbox=sms_outbox)

    # --- bodies and methods -------------------------------------------------------------------------------

    @pytest.mark.parametrize("path", [STATUS_PATH, INBOUND_PATH])
    @pytest.mark.parametrize("versions", [("v2", "ma-v2", "v3"), ("v2",)])
    def test_a_json_body_is_refused_as_not_a_form(self, client, sent, sms_outbox, path, versions):
        payload = status_payload(message_uuid=sent.provider_message_uuid, status="delivered", to=sent.to_number)
        before = everything()
        body = json.dumps(payload).encode()
        response = post_signed(client, path, body, content_type="application/json", versions=versions)
        self.assert_refused(response, field="Content-Type", before=before, sms_outbox=sms_outbox)

    def test_a_get_with_its_fields_in_the_query_is_applied(self, client, sent):
        payload = status_payload(message_uuid=sent.provider_message_uuid, status="delivered", to=sent.to_number)
        query = urlencode(payload)
        headers = signed_headers(url=f"http://testserver{STATUS_PATH}?{query}", params={}, method="GET")
        assert client.get(f"{STATUS_PATH}?{query}", headers=headers).status_code == 200
        delivery_reports_drain()
        sent.refresh_from_db()
        assert sent.status == CampaignSend.Status.DELIVERED

    def test_a_get_with_a_hostile_query_is_refused_naming_the_field(self, client, sent, sms_outbox):
        payload = status_payload(message_uuid=sent.provider_message_uuid, status="delivered", to=sent.to_number)
        query = _body(with_field(payload, "Units", "²")).decode()
        # Signed by the simulator's own implementation: the SDK's helpers cannot read a non-ASCII query.
        url = f"http://testserver{STATUS_PATH}?{query}"
        headers = simulator_signed_headers(auth_token=AUTH_TOKEN, method="GET", url=url, params={})
        before = everything()
        response = client.get(f"{STATUS_PATH}?{query}", headers=headers)
        self.assert_refused(response, field="Units", before=before, sms_outbox=sms_outbox)

    # --- signatures ---------------------------------------------------------------------------------------

    @pytest.mark.parametrize("path", [STATUS_PATH, INBOUND_PATH])
    def test_forged_signatures_are_refused_before_anything_is_read(self, client, sent, sms_outbox, path):
        payload = inbound_payload(sender=sent.to_number, text="STOP")
        body = _body(list(payload.items()))
        before = everything()
        forged = signed_headers(url="http://testserver" + path, params=payload, auth_token="a-guessed-token")
        assert client.generic("POST", path, body, content_type=FORM, headers=forged).status_code == 403
        v3_wrong = signed_headers(url="http://testserver" + path, params=payload)
        v3_wrong["X-Plivo-Signature-V3"] = signed_headers(url="http://testserver" + path, params={})[
            "X-Plivo-Signature-V3"
        ]
        assert client.generic("POST", path, body, content_type=FORM, headers=v3_wrong).status_code == 403
        assert everything() == before
        assert not sms_outbox

    @pytest.mark.parametrize("path", [STATUS_PATH, INBOUND_PATH])
    def test_v2_headers_replayed_on_another_body_after_the_cache_is_flushed_are_refused(
        self, client, sent, sms_outbox, path
    ):
        # The nonces are kept in the database, not the cache: a Redis flush or restart forgets none of them.
        genuine = (
            status_payload(message_uuid=str(uuid.uuid4()), status="sent", to="+14155550123")
            if path == STATUS_PATH
            else inbound_payload(sender="+14155550123", text="hello")
        )
        headers = signed_headers(url="http://testserver" + path, params=genuine, versions=("v2", "ma-v2"))
        original = _body(list(genuine.items()))
        assert client.generic("POST", path, original, content_type=FORM, headers=headers).status_code == 200
        cache.clear()
        before = everything()
        forged = (
            status_payload(message_uuid=sent.provider_message_uuid, status="undelivered", to=sent.to_number)
            | {"ErrorCode": "200"}
            if path == STATUS_PATH
            else inbound_payload(sender=sent.to_number, text="STOP")
        )
        response = client.generic("POST", path, _body(list(forged.items())), content_type=FORM, headers=headers)
        assert response.status_code == 403
        assert everything() == before
        assert not sms_outbox


# --- Whatever a signed status callback carries, the answer is 200 or 400, never a server error ---------------

_value = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"[0-9]{1,25}(\.[0-9]{0,9})?", fullmatch=True),
    st.sampled_from(["", "²", "1e20", "NaN", "-1", "٣", "delivered", "failed", "200", HTML, "\x00"]),
)


@pytest.mark.django_db
@pytest.mark.usefixtures("plivo_signing")
@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message_uuid=_value, status=_value, units=_value, amount=_value, error_code=_value, to=_value)
def test_any_signed_status_callback_is_answered_200_or_400(client, message_uuid, status, units, amount, error_code, to):
    fields = {
        "MessageUUID": message_uuid,
        "Status": status,
        "Units": units,
        "TotalAmount": amount,
        "ErrorCode": error_code,
        "To": to,
    }
    with transaction.atomic():  # each example from the same empty database
        body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in fields.items()})
        response = post_signed(client, STATUS_PATH, body.encode())
        assert response.status_code in (200, 400), response.content
        if response.status_code == 400:
            assert response.json()["field"] in fields
            assert not DeliveryReport.objects.exists()
        transaction.set_rollback(True)
