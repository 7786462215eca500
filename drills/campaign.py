"""A campaign for a drill: its audience made in one statement, launched through the product's own services,
and judged afterwards on the simulator's record and the database, never on the engine's own counters."""

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from drills.stack import SENDER, Stack, wait_until

# +1 212 2xx xxxx: valid New York numbers, so that the simulator accepts them. Each drill takes its own
# block of a million, so that drills never share a recipient.
NUMBER_BASE = 2_122_000_000
# In a drill's body, each recipient's own value (their number's digits, the contact attribute `code`): every
# text differs, so that each goes in a request of its own, and the witness can tell whose text reached whom.
PERSONAL_CODE = "{{ code }}"


def drill_text_for(body: str, text: str, dst: str) -> bool:
    """Whether `text`, received by `dst` at the simulator, is the drill's `body` as rendered for `dst`."""
    if PERSONAL_CODE not in body:
        return text == body
    head, tail = body.split(PERSONAL_CODE)
    return text == f"{head}{dst.lstrip('+')}{tail}"


@dataclass
class Result:
    """One row of the drills' table. `outcome` is PASS only when every expectation in `checks` held."""

    scenario: str
    expected: int = 0
    sent: int = 0
    duplicates: int = 0
    lost: int = 0
    unknown: int = 0
    unknown_unsent: int = 0  # of `unknown`, how many never reached the simulator
    seconds: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    error: str = ""

    @property
    def outcome(self) -> str:
        return "PASS" if self.checks and all(self.checks.values()) and not self.error else "FAIL"

    def check(self, name: str, ok: bool) -> bool:
        self.checks[name] = bool(ok)
        return ok

    def as_dict(self) -> dict:
        return {
            "scenario": self.scenario,
            "expected": self.expected,
            "sent": self.sent,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "unknown": self.unknown,
            "unknown_unsent": self.unknown_unsent,
            "seconds": round(self.seconds, 1),
            "outcome": self.outcome,
            "checks": self.checks,
            "notes": self.notes,
            "figures": self.figures,
            "error": self.error,
        }


def number(block: int, n: int) -> str:
    return f"+1{NUMBER_BASE + block * 1_000_000 + n}"


def audience_create(*, block: int, size: int) -> int:
    """A list of `size` subscribed contacts with numbers of the drill's block, each with their number's digits
    as the attribute `code` (PERSONAL_CODE); returns the list id."""
    from django.db import connection, transaction

    from contacts.models import ContactList

    with transaction.atomic(), connection.cursor() as cursor:
        audience = ContactList.objects.create(name=f"drill block {block} ({size:,})")
        cursor.execute(
            """
            INSERT INTO contacts_contact (phone_number, country, first_name, last_name, timezone, status,
                consented_at, consent_source, consent_text, opted_out_at, opt_out_source, attributes,
                created_at, updated_at)
            SELECT '+1' || (%s + g)::text, 'US', 'Drill', 'Recipient', 'America/New_York', 'subscribed',
                   now(), 'reliability drill', '', NULL, '', jsonb_build_object('code', '1' || (%s + g)::text),
                   now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [NUMBER_BASE + block * 1_000_000, NUMBER_BASE + block * 1_000_000, size],
        )
        cursor.execute(
            """
            INSERT INTO contacts_contactlistmembership (contact_id, contact_list_id, added_at)
            SELECT id, %s, now() FROM contacts_contact WHERE phone_number BETWEEN %s AND %s
            """,
            [audience.pk, number(block, 1), number(block, size)],
        )
        cursor.execute("ANALYZE contacts_contact")
    return audience.pk


def campaign_launch(*, list_id: int, name: str, body: str, max_per_second: int | None = None) -> int:
    """Draft a campaign for the list and press "send now", as staff would; beat launches it."""
    from campaigns.models import Campaign
    from campaigns.services.lifecycle import campaign_send_now

    campaign = Campaign.objects.create(name=name, body=body, sender=SENDER, max_per_second=max_per_second)
    campaign.lists.add(list_id)
    campaign_send_now(campaign=campaign, actor=None)
    return campaign.pk


def campaign_status(stack: Stack, campaign_id: int) -> str:
    return stack.sql("SELECT status FROM campaigns_campaign WHERE id = %s", [campaign_id])[0][0]


def sends_by_status(stack: Stack, campaign_id: int) -> dict[str, int]:
    rows = stack.sql("SELECT status, count(*) FROM sends_campaignsend WHERE campaign_id = %s GROUP BY 1", [campaign_id])
    return dict(rows)


def wait_for_first_sends(stack: Stack, body: str, n: int = 1, timeout: float = 120) -> None:
    wait_until(
        lambda: (
            sum(1 for m in stack.sim("GET", "messages")["messages"] if drill_text_for(body, m["text"], m["dst"])) >= n
        ),
        timeout=timeout,
        what=f"the first {n} messages at the simulator\n{stack.logs()}",
        interval=0.5,
    )


def wait_for_completion(stack: Stack, campaign_id: int, *, timeout: float) -> None:
    """Until the campaign is completed; a timeout says where its sends are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if campaign_status(stack, campaign_id) == "completed":
                return
        except Exception:  # the database may be restarting: that is the drill
            pass
        time.sleep(1)
    raise TimeoutError(
        f"campaign {campaign_id} not completed after {timeout:.0f} s; sends by status: "
        f"{sends_by_status(stack, campaign_id)}\n{stack.logs()}"
    )


@dataclass
class Witness:
    """What reached the simulator for one campaign body, beside what the database says of each send."""

    sim_times: dict[str, list[datetime]]  # E.164 -> acceptance times at the simulator
    sim_uuids: dict[str, str]  # message uuid -> E.164
    sends: dict[str, tuple[str, str, str]]  # E.164 -> (status, provider uuid, skip reason)
    eligible: set[str]

    @property
    def counts(self) -> Counter:
        return Counter({dst: len(times) for dst, times in self.sim_times.items()})


def witness(stack: Stack, *, campaign_id: int, body: str) -> Witness:
    sim_times: dict[str, list[datetime]] = {}
    sim_uuids: dict[str, str] = {}
    for message in stack.sim("GET", "messages")["messages"]:
        if drill_text_for(body, message["text"], message["dst"]):
            sim_times.setdefault(message["dst"], []).append(datetime.fromisoformat(message["time"]))
            sim_uuids[message["uuid"]] = message["dst"]
    rows = stack.sql(
        "SELECT to_number, status, coalesce(provider_message_uuid, ''), skip_reason FROM sends_campaignsend "
        "WHERE campaign_id = %s",
        [campaign_id],
    )
    sends = {row[0]: (row[1], row[2], row[3]) for row in rows}
    eligible = {n for n, (status, _, reason) in sends.items() if status != "skipped" or reason == "opted_out"}
    return Witness(sim_times=sim_times, sim_uuids=sim_uuids, sends=sends, eligible=eligible)


def judge_exactly_once(
    result: Result, seen: Witness, *, expected: set[str], may_miss: set[str] = frozenset(), unknown_unsent_ok=False
) -> None:
    """The common expectations: each expected number once at the simulator (those in `may_miss` at most
    once), nobody else; every send the database calls sent matches a simulator
    message by uuid; sends left `unknown` are counted and listed, with how many of them went out. An unknown
    send that never went out is lost, unless `unknown_unsent_ok` (a worker SIGKILLed between claiming a send
    and its request: the one gap no commit can close, which is why such sends are flagged for staff)."""
    counts = seen.counts
    # Flagged for staff (the engine cannot know whether they went out), but one that never reached the
    # simulator is still a recipient lost: counted as such.
    unknown = sorted(n for n, (status, _, _) in seen.sends.items() if status == "unknown")
    result.expected = len(expected)
    result.sent = sum(1 for n in counts if n in expected)
    result.duplicates = sum(c - 1 for c in counts.values() if c > 1)
    missing = expected - set(counts) - set(may_miss)
    if unknown_unsent_ok:
        missing -= set(unknown)
    result.lost = len(missing)
    result.unknown = len(unknown)
    strangers = set(counts) - expected - set(may_miss)
    result.check("nobody texted twice", result.duplicates == 0)
    result.check("every eligible recipient reached" + (" or flagged unknown" if unknown_unsent_ok else ""), not missing)
    result.check("nobody outside the audience texted", not strangers)
    sent_status = {"sent", "delivered", "undelivered", "failed"}
    mismatched = [
        n
        for n, (status, uuid, _) in seen.sends.items()
        if status in sent_status and uuid and seen.sim_uuids.get(uuid) != n
    ]
    result.check("every send recorded as sent matches the simulator's uuid", not mismatched)
    if missing:
        result.notes.append(f"lost (never at the simulator): {_sample(missing)}")
    if strangers:
        result.notes.append(f"texted outside the audience: {_sample(strangers)}")
    if mismatched:
        result.notes.append(f"sent in the database, not at the simulator under that uuid: {_sample(mismatched)}")
    result.unknown_unsent = sum(1 for n in unknown if n not in counts)
    if unknown:
        reached = len(unknown) - result.unknown_unsent
        result.notes.append(
            f"{len(unknown)} sends left unknown ({reached} of them reached the simulator once, "
            f"{len(unknown) - reached} did not; none re-sent): {_sample(unknown)}"
        )


def _sample(numbers, limit: int = 10) -> str:
    numbers = sorted(numbers)
    more = f" ... and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return ", ".join(numbers[:limit]) + more
