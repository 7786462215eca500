"""A full run of the system, every log line of it captured, then grepped for secrets and phone numbers.

The run: contacts imported over the API (by a real Celery worker), a campaign created and sent over the API,
the worker sending through the plivo backend (the real SDK) to the simulator, the simulator's signed delivery
reports and an inbound STOP reaching a live server, a signed webhook and a forged one, a wrong API token, a
failed then a successful admin login. Logs are the production ones: JSON lines through the project's
formatter, at DEBUG in this process and at INFO in the worker (its default), so that a secret written at any
level is caught here.
"""

import io
import logging
from urllib.parse import urlencode

import pytest
import requests
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from structlog.stdlib import ProcessorFormatter

from campaigns.models import Campaign
from contacts.models import Contact, ContactImport, Suppression
from contacts.tests.factories import SuppressionFactory, fictional_number
from sends.models import DeliveryReport, InboundMessage
from sends.simulator import DEMO_AUTH_TOKEN
from sends.tests.conftest import wait_for
from sends.tests.plivo_callbacks import INBOUND_PATH, inbound_payload, signed_headers
from smscampaigns.roles import MANAGER

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Tr0ub4dor&3-correct-horse"
OUR_NUMBER = "+14155550100"
NUMBERS = [fictional_number(4100 + i) for i in range(4)]


class NotTheApp(logging.Filter):
    """Leave out what this process logs without being the app: the simulator (Plivo's stand-in) and the
    test's own HTTP client calling the live server (the app never calls itself)."""

    def __init__(self):
        super().__init__()
        self.live_server = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("sends.simulator"):
            return False
        return not (record.name.startswith("urllib3") and self.live_server and self.live_server in record.getMessage())


@pytest.fixture
def all_logs():
    """Every record of this process, rendered by the project's own formatter (the JSON lines of production)."""
    root = logging.getLogger()
    formatter = next(h.formatter for h in root.handlers if isinstance(h.formatter, ProcessorFormatter))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(NotTheApp())
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    stream.not_the_app = handler.filters[0]
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def forms_of(e164: str) -> list[str]:
    """A number as it may be written: E.164, without the '+' (Plivo's form), national digits."""
    return [e164, e164.lstrip("+"), e164.removeprefix("+1")]


def test_a_full_run_logs_no_secret_token_password_or_full_phone_number(
    all_logs, workers, plivo_simulator_live, staff_roles, django_user_model, settings
):
    # The live server speaks plain http (production sits behind TLS): let a client keep its cookies here.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    simulator, base = plivo_simulator_live, plivo_simulator_live.app_url
    all_logs.not_the_app.live_server = base
    manager = django_user_model.objects.create_user("manager", "m@example.com", PASSWORD, is_staff=True)
    manager.groups.add(Group.objects.get(name=MANAGER))
    token = Token.objects.create(user=manager).key
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    workers.start("w1", LOG_LEVEL="INFO", PLIVO_SENDER=OUR_NUMBER, **simulator.env())

    # Contacts, imported by the worker from a CSV posted to the API.
    csv_text = "phone,first_name\n" + "".join(f"{n},Pat{i}\n" for i, n in enumerate(NUMBERS))
    answer = api.post(
        f"{base}/api/v1/contacts/import/",
        files={"file": ("people.csv", csv_text.encode())},
        data={"list_name": "Customers", "consent_source": "checkout form"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    wait_for(
        lambda: ContactImport.objects.filter(status=ContactImport.Status.COMPLETED).exists(),
        timeout=60,
        message="the import",
        workers=workers,
    )
    list_id = api.get(f"{base}/api/v1/lists/", timeout=30).json()["results"][0]["id"]

    # A campaign, created and sent over the API; the worker sends it through the simulator.
    campaign = api.post(
        f"{base}/api/v1/campaigns/",
        json={"name": "Sale", "body": "Hi {{ first_name }}, sale today. Reply STOP to opt out", "lists": [list_id]},
        timeout=30,
    ).json()
    assert api.post(f"{base}/api/v1/campaigns/{campaign['id']}/send/", timeout=30).status_code == 202
    wait_for(
        lambda: Campaign.objects.get(pk=campaign["id"]).status == Campaign.Status.COMPLETED,
        timeout=90,
        message="the campaign to complete",
        workers=workers,
    )
    wait_for(
        lambda: DeliveryReport.objects.filter(status="delivered").count() == len(NUMBERS),
        timeout=30,
        message="the signed delivery reports",
    )

    # A STOP texted in (signed by the simulator), then one signed here and one forged.
    simulator.inbound(from_=NUMBERS[0], to=OUR_NUMBER, text="STOP")
    wait_for(
        lambda: Contact.objects.get(phone_number=NUMBERS[0]).status == Contact.Status.UNSUBSCRIBED,
        timeout=30,
        message="the STOP",
    )
    # A START from a number staff suppressed by hand: refused, and a warning says so.
    SuppressionFactory(phone_number=NUMBERS[3], reason=Suppression.Reason.MANUAL)
    simulator.inbound(from_=NUMBERS[3], to=OUR_NUMBER, text="START")
    wait_for(lambda: InboundMessage.objects.count() == 2, timeout=30, message="the START")
    params = inbound_payload(sender=NUMBERS[1], to=OUR_NUMBER, text="HELP")
    signed = signed_headers(url=base + INBOUND_PATH, params=params, auth_token=DEMO_AUTH_TOKEN)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert requests.post(base + INBOUND_PATH, data=urlencode(params), headers={**form, **signed}, timeout=30).ok
    forged = signed_headers(url=base + INBOUND_PATH, params=params, auth_token="not-the-auth-token-at-all")
    forged_answer = requests.post(base + INBOUND_PATH, data=urlencode(params), headers={**form, **forged}, timeout=30)
    assert forged_answer.status_code == 403
    simulator.wait_for_callbacks()

    # Credentials gone wrong: a token that is no token, a wrong password, then the right one.
    wrong_token = "f" * 40
    search = {"search": NUMBERS[1]}  # a number in a query string, refused: Django logs the request
    wrong = requests.get(f"{base}/api/v1/contacts/", params=search, headers={"Authorization": f"Token {wrong_token}"})
    assert wrong.status_code == 401
    browser = requests.Session()
    browser.get(f"{base}/admin/login/", timeout=30)
    login = {"csrfmiddlewaretoken": browser.cookies["csrftoken"], "username": "manager", "next": "/admin/"}
    failed = browser.post(f"{base}/admin/login/", data={**login, "password": PASSWORD + "x"}, timeout=30)
    assert "Please enter the correct username and password" in failed.text
    browser.post(f"{base}/admin/login/", data={**login, "password": PASSWORD}, timeout=30)
    session_id = browser.cookies["sessionid"]
    assert browser.get(f"{base}/admin/contacts/contact/?q={NUMBERS[2]}", timeout=30).status_code == 200

    workers.stop_all()  # their logs are complete once they have exited
    logs = "\n".join([all_logs.getvalue(), *(log.read_text() for log in workers.tmp_path.glob("worker-*.log"))])

    # The run did happen, and was logged: the checks below are about real log lines.
    assert InboundMessage.objects.count() == 3
    for expected in [
        "inbound_reply_sent",
        "inbound_opt_in_blocked",
        "plivo_webhook_rejected",
        "Unauthorized: /api/v1/contacts/",
        "campaign_fanned_out",  # by the worker, which launched and sent the campaign
    ]:
        assert expected in logs, f"{expected!r} was not logged; the run did not go as planned"

    secrets = {
        "API token": token,
        "wrong API token": wrong_token,
        "SECRET_KEY": settings.SECRET_KEY,
        "PLIVO_AUTH_TOKEN": DEMO_AUTH_TOKEN,
        "password": PASSWORD,
        "session id": session_id,
        **{f"signature header {name}": value for name, value in {**signed, **forged}.items() if "Nonce" not in name},
        **{f"phone number {form}": form for number in NUMBERS for form in forms_of(number)},
    }
    leaked = {name: _line_with(logs, value) for name, value in secrets.items() if value in logs}
    assert not leaked, "secrets in the logs:\n" + "\n".join(f"{name}: {line}" for name, line in leaked.items())


def _line_with(logs: str, value: str) -> str:
    return next(line for line in logs.splitlines() if value in line)[:400]
