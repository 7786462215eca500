"""Hostile text, typed by a person or an integration, shown on every admin page and JSON view: never as markup.

Every text field that someone outside the code fills in (a contact's name through the API or a CSV, a texter's
message, a provider's error code, a username typed at the login page) is seeded with markup: a <script>, an
attribute break-out with an event handler, template syntax, a right-to-left override, and as many characters
as the field holds. Then every page of the admin (enumerated from the admin site's registry: lists, searches,
change, history and delete pages, list actions, each ModelAdmin's extra URLs), the campaign preview, the
"send the selected drafts now" page, the progress panel and its JSON, and every GET of the API are fetched as
each role: none may print the markup live, and none may fail.

To cover a new model or field: a field a person can type goes in TYPED_FIELDS (and is seeded in
`hostile_world`), a field only the code writes goes in WRITTEN_BY_CODE saying why;
test_every_text_field_is_seeded_hostile_or_said_to_be_written_by_code fails until it is one or the other.
New admin pages, actions and API routes are picked up by themselves.
"""

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token, TokenProxy
from rest_framework.test import APIClient

from audit.models import AuditEvent
from campaigns.models import ABTest, Campaign, CampaignVariant, FrequencyCap, PoolNumber, SenderPool
from campaigns.tests.factories import CampaignFactory
from contacts.models import (
    ConsentEvent,
    Contact,
    ContactFieldValue,
    ContactImport,
    ContactImportError,
    CustomField,
    SubscriptionRequest,
    Tag,
)
from contacts.tests.factories import ContactFactory, ContactListFactory, SegmentFactory, SuppressionFactory
from conversations.models import Conversation, ConversationNote, Reply
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from sends.models import CampaignSend, DeliveryReport, InboundMessage, LookupRun, SenderAssignment
from smscampaigns.roles import MANAGER, VIEWER
from smscampaigns.tests.test_permissions_matrix import (
    ADMIN_URL_ARGUMENTS,
    OBJECT_ID_ARGUMENTS,
    OBJECT_ID_ROUTE_ARGUMENTS,
    api_operations,
    api_route_model,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]

SUPERUSER = "superuser"
ROLES = (VIEWER, MANAGER, SUPERUSER)

# --- What a person or an integration types -----------------------------------------------------------------

TYPED_FIELDS = {
    "contacts.Contact": [
        "first_name",
        "last_name",
        "consent_source",
        "consent_text",
        "opt_out_source",
        "attributes",
        "carrier",  # the carrier name a lookup answered
    ],
    "contacts.ContactList": [
        "name",
        "description",
        "program_name",
        "message_frequency",
        "disclosure_text",
        "welcome_message",
    ],
    # How a person asked to join (the words texted, the page and browser they used, an integration's words),
    # the texts sent with the staff's wording in them, the reply, and what the provider answered.
    "contacts.SubscriptionRequest": [
        "source_detail",
        "request_text",
        "page_url",
        "user_agent",
        "confirmation_text",
        "confirmation_message_uuid",
        "confirmation_error",
        "reply_text",
        "reply_message_uuid",
        "welcome_text",
        "welcome_message_uuid",
        "welcome_error",
        "end_reason",
    ],
    # A segment's rules hold values staff type (a name to compare with, a consent source).
    "contacts.Segment": ["name", "description", "rules"],
    "contacts.Suppression": ["source", "note"],
    # The words a person texted, the consent wording and source an integration gave, a client's user agent.
    "contacts.ConsentEvent": ["source", "text", "user_agent"],
    "contacts.ContactImport": ["source_name", "list_name", "consent_source", "failure", "mapping"],
    # Fields and tags staff define, and a field's value as typed by a person (the API, a CSV cell).
    "contacts.CustomField": ["label", "description", "choices"],
    "contacts.Tag": ["name"],
    "contacts.ContactFieldValue": ["value_text"],
    "contacts.ContactImportError": ["column", "value", "reason"],  # a CSV's cells and what was wrong with them
    "campaigns.Campaign": [
        *("name", "body", "status_reason", "failed_by_error_code"),
        *("utm_source", "utm_medium", "utm_campaign"),
    ],
    "campaigns.SenderPool": ["name", "powerpack_uuid"],
    "campaigns.CampaignVariant": ["body"],  # an A/B variant's text, shown on the campaign and A/B pages
    # What Plivo answered and reported: its error codes and texts, its message ids, a delivery report as posted.
    "sends.CampaignSend": ["body", "provider_message_uuid", "error_code", "error_message"],
    "sends.DeliveryReport": ["message_uuid", "status", "error_code", "payload"],
    # A list's (or segment's) name, and what the provider answered when a lookup run stopped.
    "sends.LookupRun": ["scope_label", "error"],
    # Anybody can text the number: the text, and whatever the provider passes on with it.
    "sends.InboundMessage": ["message_uuid", "from_number", "to_number", "text", "intent", "payload"],
    # The inbox: the start of the latest text, what staff replied and noted, what Plivo answered about a reply.
    "conversations.Conversation": ["last_text"],
    "conversations.Reply": ["body", "provider_message_uuid", "error_code", "error_message"],
    "conversations.ConversationNote": ["body"],
    "audit.AuditEvent": ["actor_label", "target_repr", "data"],
    "admin.LogEntry": ["object_repr", "change_message"],
    "auth.User": ["first_name", "last_name"],
    "auth.Group": ["name"],
    # Whatever anybody sends to the login page.
    "axes.AccessAttempt": ["username", "user_agent", "http_accept", "path_info", "get_data", "post_data"],
    "axes.AccessLog": ["username", "user_agent", "http_accept", "path_info"],
    "axes.AccessFailureLog": ["username", "user_agent", "http_accept", "path_info"],
    # Staff type an endpoint; the integrator's server answers whatever it likes; events carry what people typed.
    "integrations.WebhookEndpoint": ["url", "description", "secret", "disabled_reason"],
    "integrations.WebhookEvent": ["payload"],
    "integrations.WebhookAttempt": ["error", "response_excerpt"],
}

WRITTEN_BY_CODE = {
    "contacts.Contact": {
        "phone_number": "validated and stored as E.164",
        "country": "derived from the number",
        "timezone": "validated against the IANA names",
        "line_type": "one of LineType's values",
        "lookup_country": "at most two letters, upper-cased",
    },
    "contacts.Suppression": {"phone_number": "validated and stored as E.164"},
    "contacts.ContactList": {"slug": "validated: lower-case letters, digits and hyphens"},
    "contacts.SubscriptionRequest": {
        "phone_number": "validated and stored as E.164",
        "our_number": "the number texted, normalised as an inbound To, or PLIVO_SENDER",
    },
    "contacts.ConsentEvent": {"phone_number": "the validated E.164 number of a contact or of an inbound text"},
    "contacts.ContactImport": {
        "default_region": "validated: two letters",
        "file": "a storage path the server chooses",
        "encoding": "a name the code chooses (contacts.csvfiles.ENCODING_NAMES)",
    },
    "contacts.CustomField": {
        "key": "validated: lower-case letters, digits and _",
        "type": "one of CustomField.Type",
    },
    "campaigns.Campaign": {
        "sender": "validated: E.164 or an alphanumeric sender id",
        "skipped_by_reason": "keyed by ExclusionReason values (campaigns.models)",
    },
    "campaigns.CampaignVariant": {
        "label": "A to E, given by the code in order",
        "sender": "validated as a campaign's: E.164 or an alphanumeric sender id",
    },
    "campaigns.ABTest": {"decision": "the statistics the engine computed"},
    "sends.CampaignSend": {"to_number": "the contact's validated E.164 number"},
    "campaigns.PoolNumber": {"number": "validated and stored as E.164"},
    "sends.SenderAssignment": {"number": "one of its pool's numbers"},
    "sends.LookupRun": {"scope": "a scope name the code registered"},
    "conversations.Reply": {
        "sender": "the number the contact texted (E.164 from the webhook) or a campaign's validated sender",
        "to_number": "the contact's validated E.164 number",
        "client_token": "an idempotency token, compared with the next request's and never shown",
    },
    "audit.AuditEvent": {
        "action": "a name the code chooses",
        "target_type": "app_label.model",
        "target_id": "a primary key",
    },
    "admin.LogEntry": {"object_id": "a primary key"},
    "auth.User": {
        "username": "Django's username validator: letters, digits and @.+-_",
        "password": "a hash",
        "email": "validated as an address",
    },
    "authtoken.TokenProxy": {"key": "generated"},
    "axes.AccessAttempt": {"ip_address": "an address"},
    "axes.AccessLog": {"ip_address": "an address", "session_hash": "a hash"},
    "axes.AccessFailureLog": {"ip_address": "an address"},
    "integrations.WebhookEndpoint": {"events": "event type names, checked against smscampaigns.domain_events"},
    "integrations.WebhookEvent": {"order_key": "an object's kind and its id or E.164 number"},
    "integrations.WebhookDelivery": {"order_key": "copied from its event"},
}

# Models whose text the admin shows although they have no admin of their own.
SHOWN_WITHOUT_AN_ADMIN = (
    "contacts.ContactImportError",
    "contacts.ContactFieldValue",
    "admin.LogEntry",
    "campaigns.CampaignVariant",
    "campaigns.ABTest",
    "conversations.ConversationNote",
    "integrations.WebhookEvent",  # on its deliveries' pages
    "integrations.WebhookAttempt",
)

# Each field's payloads carry a tag of their own ("xs07"), so that a leak names the field it came from.
TAGS = {
    (label, field): f"xs{number:02d}"
    for number, (label, field) in enumerate(
        ((label, field) for label, fields in TYPED_FIELDS.items() for field in fields), start=1
    )
}
QUERY_TAG = "xs00"  # what is typed into a list's search box
LONG_TAIL = " " + ("Жжж \u202e" * 1000)  # very long text, right-to-left overrides throughout


def markup(tag: str) -> str:
    """Every way the tag could turn into live markup if printed as it is."""
    return (
        f"<script>alert('{tag}')</script>"
        f"\"><img src=x onerror=alert('{tag}')>"
        f"' onfocus='alert(\"{tag}\")' "
        "{{ first_name }}{# #}\u202e"
    )


def short_markup(tag: str) -> str:
    return f"<i onblur={tag}>"


def hostile(label: str, field: str) -> str:
    """The field's hostile value: every payload and as many characters as the column takes, or what fits."""
    tag = TAGS[(label, field)]
    limit = apps.get_model(label)._meta.get_field(field).max_length
    full = markup(tag)
    if limit is None:
        return full + LONG_TAIL
    if len(full) <= limit:
        return (full + LONG_TAIL)[:limit]
    medium = f"\"><img src=x onerror=alert('{tag}')>"
    if len(medium) <= limit:
        return medium
    assert len(short_markup(tag)) <= limit, f"{label}.{field} is too short for markup: list it in WRITTEN_BY_CODE"
    return short_markup(tag)


def hostile_json(label: str, field: str) -> dict:
    tag = TAGS[(label, field)]
    return {"text": markup(tag), markup(tag): short_markup(tag)}


# --- Finding live markup in a page -------------------------------------------------------------------------

RAW_MARKUP = re.compile(
    r"<script>alert\('(?P<a>xs\d\d)'\)|<img src=x onerror=alert\('(?P<b>xs\d\d)'\)"
    r"|onfocus='alert\(\"(?P<c>xs\d\d)\"\)'|<i onblur=(?P<d>xs\d\d)>"
)


class _LiveMarkup(HTMLParser):
    """Elements and attributes that only an injection can have put there (the admin has no inline handler, no
    inline script calling alert, no image at src=x), and, apart, whatever the Content-Security-Policy would
    block because it is inline: every page must work without 'unsafe-inline'."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name == "style" or (value or "").strip().lower().startswith("javascript:"):
                self.inline.append(f"<{tag} {name}={value!r}>")
        if tag == "img" and attributes.get("src") == "x":
            self.found.append(f"<img src=x {attrs!r}>")
        if tag == "style" or (tag == "script" and "src" not in attributes and not _is_data_block(attributes)):
            self.inline.append(f"inline <{tag}> {attrs!r}")
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "alert(" in data:
            self.found.append(f"<script>{data[:80]}</script>")


def _is_data_block(attributes: dict) -> bool:
    # <script type="application/json"> (json_script) is data the browser never runs: no policy applies to it.
    return (attributes.get("type") or "text/javascript").lower() not in ("text/javascript", "module")


def field_of(tag: str) -> str:
    if tag == QUERY_TAG:
        return "the search query"
    return next((f"{label}.{field}" for (label, field), t in TAGS.items() if t == tag), tag)


def live_markup(html: str) -> list[str]:
    """What in `html` would run in a browser, each with the field it came from."""
    found = []
    for match in RAW_MARKUP.finditer(html):
        tag = next(group for group in match.groups() if group)
        context = html[max(0, match.start() - 80) : match.end() + 20]
        found.append(f"{field_of(tag)} printed as markup: ...{context}...")
    parser = _LiveMarkup()
    parser.feed(html)
    parser.close()
    found += [f"live markup: {element}" for element in parser.found]
    return found


def inline_code(html: str) -> list[str]:
    """Scripts, styles and javascript: URLs written into `html`, which the Content-Security-Policy blocks."""
    parser = _LiveMarkup()
    parser.feed(html)
    parser.close()
    return parser.inline


def assert_harmless(response, where: str) -> None:
    """Below 500; HTML with no live markup; JSON served as JSON, any HTML inside it with none either."""
    assert response.status_code < 500, f"{where}: {response.status_code}"
    content_type = response.get("Content-Type", "")
    body = _text(response)
    if content_type.startswith("text/html"):
        problems = live_markup(body) + [f"blocked by the policy: {code}" for code in inline_code(body)]
    elif content_type.startswith("application/json"):
        # Markup in a JSON value is data; only values meant to be put into a page as HTML (the progress panel's
        # "html") must have none live.
        problems = [p for html in _html_values(json.loads(body)) for p in live_markup(html) + inline_code(html)]
    else:
        assert "html" not in content_type, f"{where}: served as {content_type}"
        problems = []
    assert not problems, f"{where} ({response.status_code}):\n" + "\n".join(problems)


def _text(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode(response.charset or "utf-8", errors="replace")


def _html_values(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "html" and isinstance(item, str):
                yield item
            else:
                yield from _html_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _html_values(item)


# --- The hostile world ---------------------------------------------------------------------------------------


@dataclass
class HostileWorld:
    users: dict  # role -> user
    objects: dict  # model label -> saved instances, each shown on its own pages

    def first(self, label: str):
        return self.objects[label][0]


def _typed(label: str, **fixed) -> dict:
    """Keyword arguments for one object of `label`: each typed field hostile, plus `fixed`."""
    model = apps.get_model(label)
    values = {}
    for field in TYPED_FIELDS[label]:
        is_json = isinstance(model._meta.get_field(field), models.JSONField)
        values[field] = hostile_json(label, field) if is_json else hostile(label, field)
    return {**values, **fixed}


@pytest.fixture
def hostile_world(django_user_model) -> HostileWorld:
    users = {}
    for role in (VIEWER, MANAGER):
        user = django_user_model.objects.create_user(
            role.replace(" ", "-").lower(), is_staff=True, **_typed("auth.User")
        )
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    users[SUPERUSER] = django_user_model.objects.create_user(
        "root", is_staff=True, is_superuser=True, **_typed("auth.User")
    )
    manager = users[MANAGER]

    contact_list = ContactListFactory(**_typed("contacts.ContactList"))
    # An identifier key the body reads ({{ promo }}), and a key that is itself markup.
    attributes = {"promo": hostile("contacts.Contact", "first_name"), **hostile_json("contacts.Contact", "attributes")}
    texted = ContactFactory(**_typed("contacts.Contact", attributes=attributes, opt_out_source=""))
    opted_out = ContactFactory(
        **_typed("contacts.Contact", attributes={}, status=Contact.Status.UNSUBSCRIBED, opted_out_at=timezone.now())
    )
    for contact in (texted, opted_out):
        contact.lists.add(contact_list)

    body = markup(TAGS[("campaigns.Campaign", "body")]) + " Hi {{ first_name }}, {{ promo }}." + LONG_TAIL
    draft = CampaignFactory(**_typed("campaigns.Campaign", body=body, failed_by_error_code={}, created_by=manager))
    # A counter keyed by the provider's error code, as short as CampaignSend.error_code.
    error_code = short_markup(TAGS[("campaigns.Campaign", "failed_by_error_code")])
    sending = CampaignFactory(
        **_typed("campaigns.Campaign", body=body, failed_by_error_code={error_code: 1}, created_by=manager),
        status=Campaign.Status.SENDING,
        started_at=timezone.now() - timedelta(minutes=5),
        recipients_count=2,
        sent_count=1,
        failed_count=1,
    )
    for campaign in (draft, sending):
        campaign.lists.add(contact_list)
        # An A/B test whose variants' texts are as hostile as a body: the A/B page and the campaign page show them.
        ABTest.objects.create(campaign=campaign, test_percent=50)
        for variant_label in "AB":
            CampaignVariant.objects.create(
                campaign=campaign, label=variant_label, **_typed("campaigns.CampaignVariant")
            )
    # Valid rules (they are counted and evaluated by the pages), comparing with typed markup.
    typed_rule = {"field": "first_name", "operator": "equals", "value": markup(TAGS[("contacts.Segment", "rules")])}
    segment = SegmentFactory(**_typed("contacts.Segment", rules={"groups": [{"conditions": [typed_rule]}]}))
    draft.segments.add(segment)
    send = CampaignSend.objects.create(
        **_typed("sends.CampaignSend"),
        campaign=sending,
        contact=texted,
        to_number=str(texted.phone_number),
        status=CampaignSend.Status.FAILED,
    )
    conversation = Conversation.objects.create(**_typed("conversations.Conversation"), contact=texted, unread_count=1)
    contact_import = ContactImport.objects.create(
        **_typed("contacts.ContactImport"), default_region="US", status=ContactImport.Status.FAILED, created_by=manager
    )
    ContactImportError.objects.create(**_typed("contacts.ContactImportError"), contact_import=contact_import, line=2)
    choice = hostile("contacts.CustomField", "choices")[:100]
    custom_field = CustomField.objects.create(
        **_typed("contacts.CustomField", choices=[choice]), key="tier", type=CustomField.Type.CHOICE
    )
    ContactFieldValue.objects.create(**_typed("contacts.ContactFieldValue"), contact=texted, field=custom_field)
    tag = Tag.objects.create(**_typed("contacts.Tag"))
    texted.tags.add(tag)

    endpoint = WebhookEndpoint.objects.create(**_typed("integrations.WebhookEndpoint"), events=["send.delivered"])
    event = WebhookEvent.objects.create(
        **_typed("integrations.WebhookEvent"), type="send.delivered", order_key="send:1", occurred_at=timezone.now()
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, order_key=event.order_key)
    WebhookAttempt.objects.create(**_typed("integrations.WebhookAttempt"), delivery=delivery, response_status=500)

    pool = SenderPool.objects.create(**_typed("campaigns.SenderPool"))
    objects = [
        endpoint,
        delivery,
        texted,
        opted_out,
        contact_list,
        segment,
        SuppressionFactory(**_typed("contacts.Suppression"), created_by=manager),
        contact_import,
        custom_field,
        tag,
        draft,
        sending,
        FrequencyCap.objects.get_or_create(pk=FrequencyCap.SINGLETON_ID)[0],  # numbers only: nothing typed
        send,
        DeliveryReport.objects.create(**_typed("sends.DeliveryReport"), send=send),
        InboundMessage.objects.create(**_typed("sends.InboundMessage"), contact=texted),
        conversation,
        Reply.objects.create(
            **_typed("conversations.Reply"),
            contact=texted,
            author=manager,
            sender="+14155550100",
            to_number=str(texted.phone_number),
            status=Reply.Status.FAILED,
        ),
        ConversationNote.objects.create(
            **_typed("conversations.ConversationNote"), conversation=conversation, author=manager
        ),
        SubscriptionRequest.objects.create(
            **_typed("contacts.SubscriptionRequest"),
            contact=texted,
            contact_list=contact_list,
            phone_number=str(texted.phone_number),
            source=SubscriptionRequest.Source.FORM,
        ),
        ConsentEvent.objects.create(
            **_typed("contacts.ConsentEvent"),
            contact=texted,
            phone_number=str(texted.phone_number),
            kind=ConsentEvent.Kind.OPTED_OUT,
            method=ConsentEvent.Method.INBOUND_PHRASE,
        ),
        AuditEvent.objects.create(
            **_typed("audit.AuditEvent"), actor=manager, action="contact.opted_out", target_type="contacts.contact"
        ),
        users[SUPERUSER],
        Group.objects.create(**_typed("auth.Group")),
        TokenProxy.objects.get(pk=Token.objects.create(user=users[SUPERUSER]).pk),
        AccessAttempt.objects.create(**_typed("axes.AccessAttempt"), ip_address="127.0.0.1", failures_since_start=1),
        AccessLog.objects.create(**_typed("axes.AccessLog"), ip_address="127.0.0.1"),
        AccessFailureLog.objects.create(**_typed("axes.AccessFailureLog"), ip_address="127.0.0.1"),
        pool,
        PoolNumber.objects.create(pool=pool, number="+14155550190"),
        SenderAssignment.objects.create(pool=pool, contact=texted, number="+14155550190"),
        LookupRun.objects.create(
            **_typed("sends.LookupRun"), scope="list", scope_id=contact_list.pk, created_by=manager
        ),
    ]
    # The admin's "recent actions" and history pages, for each role that has a page to show them on.
    for user in users.values():
        for obj in (texted, draft):
            LogEntry.objects.create(
                **_typed("admin.LogEntry"),
                user=user,
                content_type=ContentType.objects.get_for_model(obj),
                object_id=str(obj.pk),
                action_flag=CHANGE,
            )
    by_label: dict = {}
    for obj in objects:
        by_label.setdefault(obj._meta.label, []).append(obj)
    return HostileWorld(users=users, objects=by_label)


# --- Every admin page, from the admin site's registry ------------------------------------------------------


@dataclass(frozen=True)
class AdminPage:
    label: str  # the model's label; "" for the site's own pages
    # index, app:<label>, changelist, search, add, change, history, delete, action:<name>, url:<name>
    kind: str

    def __str__(self):
        return f"{self.label or 'admin'} {self.kind}"


def admin_pages() -> list[AdminPage]:
    pages = [AdminPage("", "index")]
    pages += [AdminPage("", f"app:{app}") for app in sorted({m._meta.app_label for m in admin.site._registry})]
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        kinds = ["changelist", "add", "change", "history", "delete"]
        if model_admin.search_fields:
            kinds.append("search")
        kinds += [f"action:{name}" for _, name, _ in model_admin._get_base_actions()]
        standard = {f"{model._meta.app_label}_{model._meta.model_name}_{kind}" for kind in kinds[:5]}
        for pattern in model_admin.get_urls():
            if pattern.name is not None and pattern.name not in standard:
                arguments = [a for a in pattern.pattern.converters if a not in OBJECT_ID_ARGUMENTS]
                values = ADMIN_URL_ARGUMENTS.get(pattern.name, {})
                if not arguments:
                    kinds.append(f"url:{pattern.name}")
                for argument in arguments:
                    assert argument in values, f"{pattern.name} takes {argument}: give values in ADMIN_URL_ARGUMENTS"
                    kinds += [f"url:{pattern.name}:{value}" for value in values[argument]]
        pages += [AdminPage(label, kind) for kind in kinds]
    return pages


ADMIN_PAGES = admin_pages()


def _fetch(client, page: AdminPage, obj):
    """GET the page (POST for a list action, or for a button that only takes POST), following redirects."""
    if page.kind == "index":
        return client.get(reverse("admin:index"))
    if page.kind.startswith("app:"):
        return client.get(reverse("admin:app_list", args=[page.kind.removeprefix("app:")]))
    prefix = f"admin:{obj._meta.app_label}_{obj._meta.model_name}"
    if page.kind == "changelist":
        return client.get(reverse(f"{prefix}_changelist"))
    if page.kind == "search":
        return client.get(reverse(f"{prefix}_changelist"), {"q": markup(QUERY_TAG)})
    if page.kind == "add":
        return client.get(reverse(f"{prefix}_add"))
    if page.kind in ("change", "history", "delete"):
        return client.get(reverse(f"{prefix}_{page.kind}", args=[obj.pk]))
    if page.kind.startswith("action:"):
        data = {"action": page.kind.removeprefix("action:"), admin.helpers.ACTION_CHECKBOX_NAME: [obj.pk], "index": 0}
        return client.post(reverse(f"{prefix}_changelist"), data, follow=True)
    url_name, *argument = page.kind.removeprefix("url:").split(":")
    pattern = next(p for p in admin.site._registry[type(obj)].get_urls() if p.name == url_name)
    kwargs = {name: obj.pk if name in OBJECT_ID_ARGUMENTS else argument[0] for name in pattern.pattern.converters}
    url = reverse(f"admin:{url_name}", kwargs=kwargs)
    response = client.get(url)
    return client.post(url, {}, follow=True) if response.status_code == 405 else response


class TestHostileInputOnAdminPages:
    @pytest.mark.parametrize("page", ADMIN_PAGES, ids=str)
    def test_page_prints_no_typed_markup_and_does_not_fail(self, client, hostile_world, page):
        targets = hostile_world.objects.get(page.label, [None]) if page.label else [None]
        assert targets, f"no {page.label} in the hostile world: add one to hostile_world"
        for role, user in hostile_world.users.items():
            client.force_login(user)
            for obj in targets:
                with transaction.atomic():  # what an action did is undone before the next role looks
                    response = _fetch(client, page, obj)
                    transaction.set_rollback(True)
                assert_harmless(response, f"{page} of {obj!r:.60} as {role}")

    @pytest.mark.parametrize("role", [VIEWER, MANAGER])
    def test_the_preview_shows_the_contacts_name_and_the_body_as_text(self, client, hostile_world, role):
        client.force_login(hostile_world.users[role])
        for campaign in hostile_world.objects["campaigns.Campaign"]:
            response = client.get(reverse("admin:campaigns_campaign_preview", args=[campaign.pk]))
            assert response.status_code == 200
            page = response.content.decode()
            assert_harmless(response, f"the preview as {role}")
            # The sample message, rendered for the hostile contact, is on the page: escaped.
            assert "&lt;script&gt;alert(&#x27;" + TAGS[("contacts.Contact", "first_name")] in page
            assert "&lt;script&gt;alert(&#x27;" + TAGS[("campaigns.Campaign", "body")] in page

    def test_send_the_selected_drafts_now_shows_each_preview_as_text(self, client, hostile_world):
        client.force_login(hostile_world.users[MANAGER])
        campaigns = hostile_world.objects["campaigns.Campaign"]
        data = {
            "action": "send_now_selected",
            admin.helpers.ACTION_CHECKBOX_NAME: [c.pk for c in campaigns],
            "index": 0,
        }
        response = client.post(reverse("admin:campaigns_campaign_changelist"), data)
        assert response.status_code == 200
        assert "admin/campaigns/campaign/send_now_selected.html" in {t.name for t in response.templates}
        assert_harmless(response, "send the selected drafts now")
        page = response.content.decode()
        assert "&lt;script&gt;alert(&#x27;" + TAGS[("contacts.Contact", "first_name")] in page
        assert "&lt;script&gt;alert(&#x27;" + TAGS[("campaigns.Campaign", "name")] in page  # the one refused

    @pytest.mark.parametrize("role", [VIEWER, MANAGER])
    def test_the_progress_panel_and_its_json_show_provider_error_codes_as_text(self, client, hostile_world, role):
        client.force_login(hostile_world.users[role])
        sending = hostile_world.objects["campaigns.Campaign"][1]
        code_tag = TAGS[("campaigns.Campaign", "failed_by_error_code")]
        page = client.get(reverse("admin:campaigns_campaign_change", args=[sending.pk]))
        assert page.status_code == 200 and 'id="campaign-progress"' in page.content.decode()
        assert_harmless(page, f"the campaign page as {role}")
        progress = client.get(reverse("admin:campaigns_campaign_progress", args=[sending.pk]))
        assert progress.status_code == 200 and progress["Content-Type"] == "application/json"
        assert_harmless(progress, f"progress.json as {role}")
        panel = progress.json()["html"]
        assert f"&lt;i onblur={code_tag}&gt;" in panel and not live_markup(panel)

    def test_every_typed_field_is_shown_somewhere_in_the_admin(self, client, hostile_world):
        """The pages above are checked with the hostile values on them, not beside them."""
        client.force_login(hostile_world.users[SUPERUSER])
        seen = set()
        for page in ADMIN_PAGES:
            for obj in hostile_world.objects.get(page.label, [None]) if page.label else [None]:
                with transaction.atomic():
                    content = _text(_fetch(client, page, obj))
                    transaction.set_rollback(True)
                seen |= {tag for tag in TAGS.values() if tag in content}
        unseen = [f"{label}.{field}" for (label, field), tag in TAGS.items() if tag not in seen]
        assert not unseen, f"seeded but shown on no admin page: {unseen}"


# --- The API: the text as typed, as JSON ---------------------------------------------------------------------

API_READS = [route for method, route in api_operations() if method == "GET"]


class TestHostileInputInTheApi:
    @pytest.mark.parametrize("route", API_READS, ids=lambda route: f"GET /{route}")
    @pytest.mark.parametrize("role", [VIEWER, MANAGER])
    def test_api_read_gives_the_text_as_typed_as_json(self, hostile_world, role, route):
        client = APIClient()
        client.force_authenticate(hostile_world.users[role])
        paths = ["/" + route]
        argument = next((a for a in OBJECT_ID_ROUTE_ARGUMENTS if a in route), None)
        if argument is not None:
            objects = hostile_world.objects[api_route_model(route)]
            paths = ["/" + route.replace(argument, str(obj.pk)) for obj in objects]
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, f"{path}: {response.status_code} {response.content[:300]!r}"
            assert_harmless(response, f"GET {path} as {role}")
            if path.startswith("/api/v1/") and response.streaming:
                # A results export: CSV (read by assert_harmless above), never served as a page.
                assert response["Content-Type"].startswith("text/csv")
            elif path.startswith("/api/v1/"):
                assert response["Content-Type"] == "application/json"
                # Plain text, not HTML: an integration gets back exactly what was stored.
                assert "&lt;" not in response.content.decode() and "&#x27;" not in response.content.decode()

    def test_the_api_gives_names_bodies_and_texts_back_exactly_as_stored(self, hostile_world):
        client = APIClient()
        client.force_authenticate(hostile_world.users[VIEWER])
        contact = hostile_world.first("contacts.Contact")
        _, sending = hostile_world.objects["campaigns.Campaign"]
        send = hostile_world.first("sends.CampaignSend")
        inbound = hostile_world.first("sends.InboundMessage")
        assert client.get(f"/api/v1/contacts/{contact.pk}/").json()["first_name"] == contact.first_name
        assert client.get(f"/api/v1/campaigns/{sending.pk}/").json()["body"] == sending.body
        sends = client.get(f"/api/v1/campaigns/{sending.pk}/sends/").json()["results"]
        assert [s["body"] for s in sends] == [send.body]
        assert client.get(f"/api/v1/inbound/{inbound.pk}/").json()["text"] == inbound.text


def test_every_text_field_is_seeded_hostile_or_said_to_be_written_by_code():
    labels = {model._meta.label for model in admin.site._registry} | set(SHOWN_WITHOUT_AN_ADMIN)
    missing = []
    for label in sorted(labels):
        model = apps.get_model(label)
        for field in model._meta.get_fields():
            text = isinstance(field, models.CharField | models.TextField | models.JSONField | models.FileField)
            if not text or field.choices or not field.concrete:
                continue
            typed = field.name in TYPED_FIELDS.get(label, [])
            if typed == (field.name in WRITTEN_BY_CODE.get(label, {})):
                missing.append(f"{label}.{field.name}")
    assert not missing, (
        f"{missing}: a field someone types goes in TYPED_FIELDS (and is seeded hostile in hostile_world), a field "
        "only the code writes in WRITTEN_BY_CODE with the reason; never both"
    )
