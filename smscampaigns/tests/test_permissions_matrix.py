"""Every API endpoint and every admin page, list action and button, for each role: who may, who may not.

The endpoints and actions are enumerated from the code (the URLconf, the registered ModelAdmins and their
actions, their extra URLs, campaigns.admin.CAMPAIGN_ACTIONS), never listed by hand, so a new one fails here
until its expectation is written into the one table for its kind below (API_ALLOWED or ADMIN_ALLOWED).

An expectation is the set of roles allowed. Everyone else is refused, the way each surface refuses:
- the API answers 401 to the anonymous (no credentials) and 403 to a role without the permission;
- the admin sends the anonymous to its login page (302) and answers 403 to a role without the permission;
  a list action the role may not use is not offered to it, so Django answers "No action selected." and
  does nothing: that counts as refused.
"Allowed" means past the permission check: the answer may still be 400 for the empty input these requests
send, or 409 for a status that forbids the move, but never 401, 403, 404, 405 or a server error.
"""

from dataclasses import dataclass

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token, TokenProxy
from rest_framework.test import APIClient
from rest_framework.views import APIView

from audit.services import audit_record
from campaigns.admin import CAMPAIGN_ACTIONS
from campaigns.models import FrequencyCap, PoolNumber, SenderPool
from campaigns.services.ab_tests import ABSettings, campaign_ab_test_set
from campaigns.tests.factories import CampaignFactory
from contacts.models import ContactImport, CustomField, SubscriptionRequest, Tag
from contacts.services.consent import consent_event_record
from contacts.tests.factories import ContactFactory, ContactListFactory, SegmentFactory, SuppressionFactory
from conversations.models import Conversation, Reply
from integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from sends.models import DeliveryReport, InboundMessage, LookupRun
from sends.tests.factories import CampaignSendFactory
from smscampaigns.roles import EDITOR, MANAGER, VIEWER
from smscampaigns.tests.helpers import rolled_back

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]

ANONYMOUS = "anonymous"
ROLES = (ANONYMOUS, VIEWER, EDITOR, MANAGER)
EVERYONE = frozenset(ROLES)
STAFF = frozenset({VIEWER, EDITOR, MANAGER})
WRITERS = frozenset({EDITOR, MANAGER})  # contacts in full, campaign drafts
MANAGERS = frozenset({MANAGER})
NOBODY = frozenset()  # superusers only

# --- The API: (method, route as written in the URLconf) -> roles allowed -----------------------------
API_ALLOWED = {
    # The schema and its docs are public: they describe the API, they give nothing away.
    ("GET", "api/schema/"): EVERYONE,
    ("GET", "api/docs/"): EVERYONE,
    ("GET", "api/v1/contacts/"): STAFF,
    ("POST", "api/v1/contacts/"): WRITERS,
    ("GET", "api/v1/contacts/<int:pk>/"): STAFF,
    ("PATCH", "api/v1/contacts/<int:pk>/"): WRITERS,
    ("DELETE", "api/v1/contacts/<int:pk>/"): WRITERS,
    ("POST", "api/v1/contacts/<int:pk>/opt-out/"): WRITERS,
    ("POST", "api/v1/contacts/<int:pk>/opt-in/"): WRITERS,
    ("POST", "api/v1/contacts/<int:pk>/lookup/"): MANAGERS,  # a lookup costs money
    ("POST", "api/v1/lists/<int:pk>/lookup/"): MANAGERS,
    ("GET", "api/v1/lookups/<int:pk>/"): STAFF,
    ("POST", "api/v1/contacts/import/"): WRITERS,
    ("GET", "api/v1/contacts/import/<int:pk>/"): STAFF,
    ("GET", "api/v1/contacts/import/<int:pk>/errors/"): STAFF,
    ("GET", "api/v1/lists/"): STAFF,
    ("POST", "api/v1/lists/"): WRITERS,
    ("GET", "api/v1/lists/<int:pk>/"): STAFF,
    ("PATCH", "api/v1/lists/<int:pk>/"): WRITERS,
    ("DELETE", "api/v1/lists/<int:pk>/"): WRITERS,
    ("POST", "api/v1/lists/<int:pk>/contacts/"): WRITERS,
    ("GET", "api/v1/custom-fields/"): STAFF,
    ("POST", "api/v1/custom-fields/"): WRITERS,
    ("GET", "api/v1/custom-fields/<int:pk>/"): STAFF,
    ("PATCH", "api/v1/custom-fields/<int:pk>/"): WRITERS,
    ("DELETE", "api/v1/custom-fields/<int:pk>/"): WRITERS,
    ("GET", "api/v1/tags/"): STAFF,
    ("POST", "api/v1/tags/"): WRITERS,
    ("GET", "api/v1/tags/<int:pk>/"): STAFF,
    ("PATCH", "api/v1/tags/<int:pk>/"): WRITERS,
    ("DELETE", "api/v1/tags/<int:pk>/"): WRITERS,
    ("GET", "api/v1/suppressions/"): STAFF,
    ("POST", "api/v1/suppressions/"): WRITERS,
    ("DELETE", "api/v1/suppressions/<int:pk>/"): WRITERS,
    ("GET", "api/v1/segments/"): STAFF,
    ("POST", "api/v1/segments/"): WRITERS,
    ("GET", "api/v1/segments/<int:pk>/"): STAFF,
    ("PATCH", "api/v1/segments/<int:pk>/"): WRITERS,
    ("DELETE", "api/v1/segments/<int:pk>/"): WRITERS,
    ("GET", "api/v1/segments/<int:pk>/count/"): STAFF,
    ("POST", "api/v1/subscriptions/"): WRITERS,  # adds a contact (pending) and texts them the confirmation
    ("GET", "api/v1/campaigns/"): STAFF,
    ("POST", "api/v1/campaigns/"): WRITERS,
    ("GET", "api/v1/campaigns/<int:pk>/"): STAFF,
    ("PATCH", "api/v1/campaigns/<int:pk>/"): WRITERS,
    ("DELETE", "api/v1/campaigns/<int:pk>/"): MANAGERS,  # a campaign is history; editors draft, never delete
    ("POST", "api/v1/campaigns/<int:pk>/send/"): MANAGERS,
    ("POST", "api/v1/campaigns/<int:pk>/schedule/"): MANAGERS,
    ("POST", "api/v1/campaigns/<int:pk>/pause/"): WRITERS,  # anyone who edits campaigns may stop one
    ("POST", "api/v1/campaigns/<int:pk>/resume/"): MANAGERS,
    ("POST", "api/v1/campaigns/<int:pk>/cancel/"): MANAGERS,  # final, as in the admin
    ("GET", "api/v1/campaigns/<int:pk>/stats/"): STAFF,
    ("GET", "api/v1/campaigns/<int:pk>/preview/"): STAFF,
    ("POST", "api/v1/campaigns/<int:pk>/test/"): MANAGERS,  # texts real phones
    ("GET", "api/v1/campaigns/<int:pk>/sends/"): STAFF,
    ("GET", "api/v1/campaigns/<int:pk>/links/"): STAFF,
    ("GET", "api/v1/campaigns/<int:pk>/variants/"): STAFF,
    ("POST", "api/v1/campaigns/<int:pk>/variants/decide/"): MANAGERS,  # sends the rest of the audience
    ("GET", "api/v1/campaigns/<int:pk>/export/"): STAFF,
    ("GET", "api/v1/inbound/"): STAFF,
    ("GET", "api/v1/inbound/<int:pk>/"): STAFF,
    # The inbox: everyone reads it, editors and managers reply.
    ("GET", "api/v1/conversations/"): STAFF,
    ("GET", "api/v1/conversations/<int:contact_id>/"): STAFF,
    ("POST", "api/v1/conversations/<int:contact_id>/reply/"): WRITERS,
}

# --- The admin: (model label, what) -> roles allowed -------------------------------------------------
# "what" is a standard page (changelist, add, change = saving the change form, delete), "action:<name>" for
# a list action, or "url:<url name>[:<argument>]" for an extra URL of the ModelAdmin (a campaign button).
_READ_ONLY_RECORD = {
    "changelist": STAFF,
    "add": NOBODY,
    "change": NOBODY,
    "delete": NOBODY,
    "action:delete_selected": NOBODY,
}
_SUPERUSERS_ONLY = {
    "changelist": NOBODY,
    "add": NOBODY,
    "change": NOBODY,
    "delete": NOBODY,
    "action:delete_selected": NOBODY,
}


def _per_model(label: str, table: dict) -> dict:
    return {(label, what): roles for what, roles in table.items()}


ADMIN_ALLOWED = {
    # People, tokens and login records are a superuser's business.
    **_per_model("auth.User", {**_SUPERUSERS_ONLY, "url:auth_user_password_change": NOBODY}),
    **_per_model("auth.Group", _SUPERUSERS_ONLY),
    **_per_model("authtoken.TokenProxy", _SUPERUSERS_ONLY),
    **_per_model("axes.AccessAttempt", {**_SUPERUSERS_ONLY, "action:cleanup_expired_attempts": NOBODY}),
    **_per_model("axes.AccessLog", _SUPERUSERS_ONLY),
    **_per_model("axes.AccessFailureLog", _SUPERUSERS_ONLY),
    # Records of what happened: read by every role, written by nobody through the admin.
    **_per_model("audit.AuditEvent", _READ_ONLY_RECORD),
    **_per_model("contacts.ConsentEvent", _READ_ONLY_RECORD),
    **_per_model("contacts.SubscriptionRequest", _READ_ONLY_RECORD),
    **_per_model("sends.CampaignSend", _READ_ONLY_RECORD),
    **_per_model("sends.DeliveryReport", _READ_ONLY_RECORD),
    **_per_model("sends.InboundMessage", _READ_ONLY_RECORD),
    **_per_model("conversations.Reply", _READ_ONLY_RECORD),
    # The inbox: every role reads conversations; editors and managers reply, assign, close and add notes.
    **_per_model(
        "conversations.Conversation",
        {
            "changelist": STAFF,
            "add": NOBODY,  # a conversation begins with a text, never by hand
            "change": WRITERS,
            "delete": NOBODY,
            "action:delete_selected": NOBODY,
            "url:conversations_conversation_unread": STAFF,
            "url:conversations_conversation_messages": STAFF,
            "url:conversations_conversation_reply": WRITERS,
            "url:conversations_conversation_note": WRITERS,
        },
    ),
    # Contacts in full for editors and managers.
    **_per_model(
        "contacts.Contact",
        {
            "changelist": STAFF,
            "add": WRITERS,
            "change": WRITERS,
            "delete": WRITERS,
            "action:delete_selected": WRITERS,
            "action:add_to_list": WRITERS,
            "action:remove_from_list": WRITERS,
            "action:opt_out": WRITERS,
            "action:opt_in": WRITERS,
            "action:add_tag": WRITERS,
            "action:remove_tag": WRITERS,
        },
    ),
    **_per_model(
        "contacts.CustomField",
        {"changelist": STAFF, "add": WRITERS, "change": WRITERS, "delete": WRITERS, "action:delete_selected": WRITERS},
    ),
    **_per_model(
        "contacts.Tag",
        {"changelist": STAFF, "add": WRITERS, "change": WRITERS, "delete": WRITERS, "action:delete_selected": WRITERS},
    ),
    **_per_model(
        "contacts.ContactList",
        {"changelist": STAFF, "add": WRITERS, "change": WRITERS, "delete": WRITERS, "action:delete_selected": WRITERS},
    ),
    **_per_model(
        "contacts.Suppression",
        {"changelist": STAFF, "add": WRITERS, "change": WRITERS, "delete": WRITERS, "action:delete_selected": WRITERS},
    ),
    # Segments are contacts' rules: written by editors and managers; every role reads and counts them.
    **_per_model(
        "contacts.Segment",
        {
            "changelist": STAFF,
            "add": WRITERS,
            "change": WRITERS,
            "delete": WRITERS,
            "action:delete_selected": WRITERS,
            "url:contacts_segment_count": STAFF,
        },
    ),
    **_per_model(
        "contacts.ContactImport",
        {
            "changelist": STAFF,
            "add": WRITERS,
            "change": NOBODY,  # an import is a record; it is not edited
            "delete": WRITERS,
            "action:delete_selected": WRITERS,
            "action:resume_imports": WRITERS,  # carries on adding contacts: as much a write as the upload
            "url:contacts_contactimport_errors": STAFF,
            "url:contacts_contactimport_mapping": WRITERS,  # the upload's second step
        },
    ),
    # Campaigns: editors draft and may stop one; sending, scheduling, resuming, cancelling and deleting
    # are a manager's.
    **_per_model(
        "campaigns.Campaign",
        {
            "changelist": STAFF,
            "add": WRITERS,
            "change": WRITERS,
            "delete": MANAGERS,
            "action:delete_selected": MANAGERS,
            "action:send_now_selected": MANAGERS,
            "action:pause_selected": WRITERS,
            "action:resume_selected": MANAGERS,
            "action:cancel_selected": MANAGERS,
            "url:campaigns_campaign_action:schedule": MANAGERS,
            "url:campaigns_campaign_action:send_now": MANAGERS,
            "url:campaigns_campaign_action:unschedule": WRITERS,
            "url:campaigns_campaign_action:pause": WRITERS,
            "url:campaigns_campaign_action:resume": MANAGERS,
            "url:campaigns_campaign_action:cancel": MANAGERS,
            # Anyone who may view campaigns sees the preview and the progress; only managers confirm from it.
            "url:campaigns_campaign_preview": STAFF,
            "url:campaigns_campaign_progress": STAFF,
            "url:campaigns_campaign_test_send": MANAGERS,
            # Everyone sees a draft's A/B test (writers change it there); deciding sends the rest: managers.
            "url:campaigns_campaign_ab_test": STAFF,
            "url:campaigns_campaign_ab_decide": MANAGERS,
            "url:campaigns_campaign_export": STAFF,
        },
    ),
    # Sender pools decide which numbers campaigns go out from: a manager's, like sending.
    **_per_model(
        "campaigns.SenderPool",
        {
            "changelist": STAFF,
            "add": MANAGERS,
            "change": MANAGERS,
            "delete": MANAGERS,
            "action:delete_selected": MANAGERS,
        },
    ),
    # A lookup costs money: managers start one; every role follows the runs.
    **_per_model(
        "sends.LookupRun",
        {
            "changelist": STAFF,
            "add": MANAGERS,
            "change": NOBODY,
            "delete": NOBODY,
            "action:delete_selected": NOBODY,
            "url:sends_lookuprun_progress": STAFF,
        },
    ),
    # The global frequency cap: one row, read by all staff, changed by managers, never added or deleted.
    **_per_model(
        "campaigns.FrequencyCap",
        {
            "changelist": STAFF,
            "add": NOBODY,
            "change": MANAGERS,
            "delete": NOBODY,
            "action:delete_selected": NOBODY,
        },
    ),
    # Event webhooks hold signing secrets and send data out: managers alone.
    **_per_model(
        "integrations.WebhookEndpoint",
        {
            "changelist": MANAGERS,
            "add": MANAGERS,
            "change": MANAGERS,
            "delete": MANAGERS,
            "action:delete_selected": MANAGERS,
            "action:enable_again": MANAGERS,
        },
    ),
    **_per_model(
        "integrations.WebhookDelivery",
        {**_READ_ONLY_RECORD, "changelist": MANAGERS, "action:replay": MANAGERS},
    ),
}

# Values for the arguments of extra admin URLs other than the object's id, one case per value.
ADMIN_URL_ARGUMENTS = {"campaigns_campaign_action": {"name": list(CAMPAIGN_ACTIONS)}}
OBJECT_ID_ARGUMENTS = {"pk", "id", "object_id"}


# --- Enumeration -------------------------------------------------------------------------------------


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def api_operations() -> list[tuple[str, str]]:
    """(method, route) of every DRF view in the URLconf, for each method it implements."""
    operations = []
    for route, pattern in _walk(get_resolver().url_patterns):
        view_class = getattr(pattern.callback, "cls", None)
        if view_class is None or not issubclass(view_class, APIView):
            continue
        for method in view_class.http_method_names:
            if method not in ("options", "head", "trace") and hasattr(view_class, method):
                operations.append((method.upper(), route))
    return operations


def admin_operations() -> list[tuple[str, str]]:
    """(model label, what) for every registered ModelAdmin: its pages, its list actions, its extra URLs."""
    operations = []
    for model, model_admin in admin.site._registry.items():
        label, app, model_name = model._meta.label, model._meta.app_label, model._meta.model_name
        operations += [(label, page) for page in ("changelist", "add", "change", "delete")]
        # Every action declared, before Django filters them by the user's permissions.
        operations += [(label, f"action:{name}") for _, name, _ in model_admin._get_base_actions()]
        standard = {f"{app}_{model_name}_{page}" for page in ("changelist", "add", "history", "delete", "change")}
        for pattern in model_admin.get_urls():
            if pattern.name is None or pattern.name in standard:
                continue
            arguments = [a for a in pattern.pattern.converters if a not in OBJECT_ID_ARGUMENTS]
            if not arguments:
                operations.append((label, f"url:{pattern.name}"))
            for argument in arguments:
                values = ADMIN_URL_ARGUMENTS.get(pattern.name, {}).get(argument, [f"<no value for {argument}>"])
                operations += [(label, f"url:{pattern.name}:{value}") for value in values]
    return operations


API_OPERATIONS = api_operations()
ADMIN_OPERATIONS = admin_operations()


def test_every_api_operation_and_admin_action_has_an_expectation_and_none_is_stale():
    api_missing = [f"{method} /{route}" for method, route in API_OPERATIONS if (method, route) not in API_ALLOWED]
    admin_missing = [f"{label} {what}" for label, what in ADMIN_OPERATIONS if (label, what) not in ADMIN_ALLOWED]
    assert not api_missing and not admin_missing, (
        f"No permission expectation for {api_missing + admin_missing}: add each to API_ALLOWED or ADMIN_ALLOWED "
        f"in {__file__} with the roles that may use it"
    )
    assert set(API_ALLOWED) == set(API_OPERATIONS), f"stale: {set(API_ALLOWED) - set(API_OPERATIONS)}"
    assert set(ADMIN_ALLOWED) == set(ADMIN_OPERATIONS), f"stale: {set(ADMIN_ALLOWED) - set(ADMIN_OPERATIONS)}"


# --- The world each case runs in -------------------------------------------------------------------


@dataclass
class World:
    users: dict
    objects: dict  # model label -> one saved instance

    def object_for_api_route(self, route: str):
        return self.objects[api_route_model(route)]


# The model whose id an API route's <pk> is, by route prefix (longest first).
API_ROUTE_MODELS = [
    ("api/v1/contacts/import/", "contacts.ContactImport"),
    ("api/v1/contacts/", "contacts.Contact"),
    ("api/v1/lists/", "contacts.ContactList"),
    ("api/v1/suppressions/", "contacts.Suppression"),
    ("api/v1/segments/", "contacts.Segment"),
    ("api/v1/custom-fields/", "contacts.CustomField"),
    ("api/v1/tags/", "contacts.Tag"),
    ("api/v1/campaigns/", "campaigns.Campaign"),
    ("api/v1/inbound/", "sends.InboundMessage"),
    ("api/v1/lookups/", "sends.LookupRun"),
    ("api/v1/conversations/", "contacts.Contact"),  # a contact's conversation, by the contact's id
]


# How an API route names the id of its object.
OBJECT_ID_ROUTE_ARGUMENTS = ("<int:pk>", "<int:contact_id>")


def api_route_model(route: str) -> str:
    for prefix, label in API_ROUTE_MODELS:
        if route.startswith(prefix):
            return label
    raise AssertionError(f"no object for /{route}: say which model its <pk> is in API_ROUTE_MODELS")


@pytest.fixture
def world(django_user_model) -> World:
    users = {ANONYMOUS: None}
    for role in (VIEWER, EDITOR, MANAGER):
        user = django_user_model.objects.create_user(role.replace(" ", "-").lower(), is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    contact_list = ContactListFactory()
    contact = ContactFactory()
    campaign = CampaignFactory()  # a draft: every button and page has something to act on
    campaign_ab_test_set(campaign=campaign, bodies=["Offer A", "Offer B"], settings=ABSettings(test_percent=50))
    send = CampaignSendFactory(campaign=CampaignFactory(), contact=ContactFactory())
    superuser = django_user_model.objects.create_user("root", is_superuser=True, is_staff=True)
    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example.com/x", events=["send.delivered"])
    event = WebhookEvent.objects.create(
        type="send.delivered", order_key=f"send:{send.pk}", payload={"id": send.pk}, occurred_at=send.queued_at
    )
    pool = SenderPool.objects.create(name="pool")
    PoolNumber.objects.create(pool=pool, number="+14155550190")  # a pool of numbers has at least one
    objects = [
        endpoint,
        WebhookDelivery.objects.create(endpoint=endpoint, event=event, order_key=event.order_key),
        contact,
        contact_list,
        SegmentFactory(),
        SuppressionFactory(),
        CustomField.objects.create(key="score", label="Score", type=CustomField.Type.NUMBER),
        Tag.objects.create(name="vip"),
        ContactImport.objects.create(source_name="a.csv", default_region="US", status=ContactImport.Status.FAILED),
        campaign,
        FrequencyCap.objects.get_or_create(pk=FrequencyCap.SINGLETON_ID)[0],
        send,
        DeliveryReport.objects.create(message_uuid="uuid-1", send=send, status="delivered"),
        InboundMessage.objects.create(from_number="+14155550123", to_number="+14155550100", text="HELP"),
        LookupRun.objects.create(scope="list", scope_id=contact_list.pk, scope_label="list x"),
        pool,
        Conversation.objects.create(contact=contact, unread_count=1),
        Reply.objects.create(contact=contact, sender="+14155550100", to_number=str(contact.phone_number), body="Hi"),
        audit_record(actor=superuser, action="contact.created", target=contact),
        consent_event_record(phone_number=str(contact.phone_number), kind="opted_out", method="inbound_keyword"),
        SubscriptionRequest.objects.create(
            contact_list=contact_list, phone_number="+14155550124", source=SubscriptionRequest.Source.FORM
        ),
        superuser,
        Group.objects.get(name=VIEWER),
        TokenProxy.objects.get(pk=Token.objects.create(user=superuser).pk),
        AccessAttempt.objects.create(username="x", ip_address="127.0.0.1", failures_since_start=1),
        AccessLog.objects.create(username="x", ip_address="127.0.0.1"),
        AccessFailureLog.objects.create(username="x", ip_address="127.0.0.1"),
    ]
    return World(users=users, objects={obj._meta.label: obj for obj in objects})


def _refusals(results: dict, allowed: frozenset, refused_as: dict) -> list[str]:
    """The roles whose outcome differs from the expectation, each with what happened."""
    wrong = []
    for role, (outcome, detail) in results.items():
        expected = "allowed" if role in allowed else refused_as[role == ANONYMOUS]
        if outcome != expected:
            wrong.append(f"{role}: expected {expected}, got {outcome} ({detail})")
    return wrong


# --- The API ---------------------------------------------------------------------------------------


def _api_outcome(status: int) -> str:
    if status in (401, 403):
        return str(status)
    if status in (404, 405) or status >= 500:
        return f"broken {status}"
    return "allowed"


@pytest.mark.parametrize(("method", "route"), API_OPERATIONS, ids=[f"{m} /{r}" for m, r in API_OPERATIONS])
def test_api_operation_is_allowed_to_exactly_its_roles(world, method, route):
    allowed = API_ALLOWED.get((method, route))
    assert allowed is not None, f"No permission expectation for {method} /{route}: add it to API_ALLOWED"
    path = "/" + route
    for argument in OBJECT_ID_ROUTE_ARGUMENTS:
        if argument in route:
            path = path.replace(argument, str(world.object_for_api_route(route).pk))
    results = {}
    for role, user in world.users.items():
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        with rolled_back():  # what one role did (a delete, a send) is not what the next one finds
            response = client.generic(method, path, data="{}", content_type="application/json")
        content = b"(streamed)" if response.streaming else response.content[:200]  # a CSV export streams
        results[role] = (_api_outcome(response.status_code), f"{response.status_code} {content!r}")
    wrong = _refusals(results, allowed, refused_as={True: "401", False: "403"})
    assert not wrong, f"{method} {path}:\n" + "\n".join(wrong)


# --- The admin -------------------------------------------------------------------------------------


def _admin_outcome(response, *, posted_action: bool, login_url: str = "/admin/login/") -> tuple[str, str]:
    status = response.status_code
    if status == 302 and response["Location"].startswith(login_url):
        return "login", response["Location"]
    if status == 403:
        return "403", ""
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    # Django's refusals of a list action it does not offer this user: a warning, or (when it offers the
    # user no action at all) the list shown again as if nothing had been posted.
    if "No action selected." in notes:
        return "403", "the action is not offered"
    if status == 200 and "admin/change_list.html" in {t.name for t in response.templates} and posted_action:
        return "403", "no action is offered: the list was shown again"
    if status in (404, 405) or status >= 500:
        return f"broken {status}", response.content[:200].decode(errors="replace")
    return "allowed", f"{status} {notes}"


def _admin_request(client, world: World, label: str, what: str):
    obj = world.objects.get(label)
    if obj is None:
        raise AssertionError(f"no {label} to act on: add one to the world fixture")
    prefix = f"admin:{obj._meta.app_label}_{obj._meta.model_name}"
    if what == "changelist":
        return client.get(reverse(f"{prefix}_changelist"))
    if what == "add":
        return client.get(reverse(f"{prefix}_add"))
    if what == "change":  # saving, not viewing: a view-only role may open the page but not save it
        return client.post(reverse(f"{prefix}_change", args=[obj.pk]), {})
    if what == "delete":
        return client.get(reverse(f"{prefix}_delete", args=[obj.pk]))
    if what.startswith("action:"):
        data = {"action": what.removeprefix("action:"), admin.helpers.ACTION_CHECKBOX_NAME: [obj.pk], "index": 0}
        return client.post(reverse(f"{prefix}_changelist"), data)
    url_name, *argument = what.removeprefix("url:").split(":")
    pattern = next(p for p in admin.site._registry[type(obj)].get_urls() if p.name == url_name)
    kwargs = {}
    for name in pattern.pattern.converters:
        if name in OBJECT_ID_ARGUMENTS:
            kwargs[name] = obj.pk
        elif argument and argument[0] in ADMIN_URL_ARGUMENTS.get(url_name, {}).get(name, []):
            kwargs[name] = argument[0]
        else:
            raise AssertionError(f"admin URL {url_name} takes {name}: give its values in ADMIN_URL_ARGUMENTS")
    url = reverse(f"admin:{url_name}", kwargs=kwargs)
    response = client.get(url)
    return client.post(url, {}) if response.status_code == 405 else response  # a button is a POST


@pytest.mark.parametrize(
    ("label", "what"), ADMIN_OPERATIONS, ids=[f"{label} {what}" for label, what in ADMIN_OPERATIONS]
)
def test_admin_page_action_or_button_is_allowed_to_exactly_its_roles(client, world, label, what):
    allowed = ADMIN_ALLOWED.get((label, what))
    assert allowed is not None, f"No permission expectation for {label} {what}: add it to ADMIN_ALLOWED"
    results = {}
    for role, user in world.users.items():
        client.logout()
        if user is not None:
            client.force_login(user)
        with rolled_back():
            results[role] = _admin_outcome(
                _admin_request(client, world, label, what), posted_action=what.startswith("action:")
            )
    wrong = _refusals(results, allowed, refused_as={True: "login", False: "403"})
    assert not wrong, f"{label} {what}:\n" + "\n".join(wrong)
