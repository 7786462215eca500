"""Sending a wave: wait for the sender's rate, claim the wave's sends, hand the requests to the backend over
up to DISPATCH_CONNECTIONS connections at once, record every result. Each request's outcome is returned,
not collected in lists passed around.

With several connections, threads only wait their turn at the rate and call the backend; everything that
touches the database (the claim, the campaign's status, recording) stays on the calling thread, so that a
wave is still claimed and recorded in one transaction each, on the worker's own connection."""

import contextlib
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

import structlog
from django.conf import settings
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.quiet_hours import message_expiry_seconds
from campaigns.services.lifecycle import campaign_pause
from sends.backends.base import BaseSmsBackend, ErrorClass, OutboundMessage, SendError, SendResult
from sends.services.dispatch.claiming import sends_claim
from sends.services.dispatch.recipients import Recipient, Request, quiet_window_closing
from sends.services.dispatch.recording import Outcome, record_results_surely
from sends.services.dispatch.window import window_touch
from sends.services.rate_limit import rate_limit_wait
from sends.services.sender_pools import Sender, campaign_single_sender
from sends.webhook_paths import status_callback_url
from smscampaigns.errors import ApplicationError

log = structlog.get_logger(__name__)

# How stale a sending worker's view of the campaign status may get while it works through a wave.
STATUS_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class RequestResult:
    """What one request came to: the backend's answers, the sends given back unsent, and whether the
    chunk must stop (the campaign halted, or the account was refused)."""

    outcomes: list[Outcome] = field(default_factory=list)
    unsent: list[int] = field(default_factory=list)
    halted: bool = False
    account_error: SendError | None = None


@dataclass(frozen=True)
class WaveResult:
    """What a claimed wave came to; `interrupted` is what broke off sending (Redis or the database failing
    between two requests), raised again once the rest is recorded."""

    outcomes: list[Outcome]
    unsent: list[int]
    halted: bool
    interrupted: Exception | None = None


@dataclass(frozen=True)
class _Job:
    """One request of a claimed wave, to its claimed recipients, from its sender (resolved beforehand, on
    the thread that owns the database connection)."""

    request: Request
    recipients: list[Recipient]
    sender: Sender
    paced: bool  # waits its turn at the rate; the wave's first request did so before the claim


class _CampaignStatus:
    """Whether the campaign stopped sending, asked of the database at most every STATUS_CHECK_SECONDS."""

    def __init__(self, campaign_id: int):
        self.campaign_id = campaign_id
        self.checked_at = time.monotonic()

    def halted(self) -> bool:
        if time.monotonic() - self.checked_at <= STATUS_CHECK_SECONDS:
            return False
        self.checked_at = time.monotonic()
        return not Campaign.objects.filter(pk=self.campaign_id, status=Campaign.Status.SENDING).exists()


def request_sender(campaign: Campaign, request: Request) -> Sender:
    """The request's sender: a number of the campaign's pool, or its one sender."""
    return request.sender or campaign_single_sender(campaign)


def wave_send(*, campaign: Campaign, backend: BaseSmsBackend, wave: list[Request]) -> bool:
    """Claim a wave's recipients in one transaction, send its requests, record every result in one more.
    False when the chunk must stop: the campaign was paused (by staff or an account error) or cancelled.

    Claiming a wave rather than each request keeps the database work per message small when every
    recipient gets their own text; the price is that a process killed mid-wave leaves up to a wave of
    sends `sending`, to be reconciled (never re-sent blindly). So the wait for the first request's turn at
    the sender's rate comes before the claim: a worker mostly waits there, and holds nothing while it does."""
    # Who reached the end of their window meanwhile stays queued, unclaimed: the next pass defers them.
    wave = [
        replace(request, recipients=kept)
        for request in wave
        if (kept := [r for r in request.recipients if not quiet_window_closing(r)])
    ]
    if not wave:
        return True
    first = wave[0]
    sender = request_sender(campaign, first)
    rate_limit_wait(
        sender=sender.rate_key, segments=first.segments * len(first.recipients), per_second=sender.per_second
    )
    window_touch(campaign.pk)
    claimed_ids = sends_claim(campaign_id=campaign.pk, recipients=[r for req in wave for r in req.recipients])
    if not claimed_ids:
        return Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).exists()
    result = _claimed_send(campaign=campaign, backend=backend, wave=wave, claimed_ids=claimed_ids)
    account_error = record_results_surely(campaign_id=campaign.pk, outcomes=result.outcomes, unsent=result.unsent)
    if result.interrupted is not None:
        raise result.interrupted
    if account_error is not None:
        # ApplicationError: another worker paused it first, or staff cancelled it meanwhile.
        with contextlib.suppress(ApplicationError):
            campaign_pause(campaign=campaign, actor=None, reason=f"{account_error.message} ({account_error.code})")
        return False
    return not result.halted


def dispatch_connections(backend: BaseSmsBackend, requests: int) -> int:
    """How many of a wave's requests may be in flight at once: DISPATCH_CONNECTIONS, one for a backend that
    cannot be shared between threads, never more than the wave has requests."""
    if not backend.thread_safe:
        return 1
    return max(1, min(settings.DISPATCH_CONNECTIONS, requests))


def _claimed_send(
    *, campaign: Campaign, backend: BaseSmsBackend, wave: list[Request], claimed_ids: set[int]
) -> WaveResult:
    """Send the wave's requests to its claimed recipients, paced by the sender's rate (the first request
    already waited its turn), over up to DISPATCH_CONNECTIONS connections. Once the chunk must stop, the
    requests not yet sent are given back unsent."""
    jobs = []
    for request in wave:
        recipients = [r for r in request.recipients if r.send_id in claimed_ids]
        if recipients:
            sender = request_sender(campaign, request)
            jobs.append(_Job(request=request, recipients=recipients, sender=sender, paced=bool(jobs)))
    stop = threading.Event()
    status = _CampaignStatus(campaign.pk)
    connections = dispatch_connections(backend, len(jobs))
    if connections == 1:
        steps, halted, interrupted = _jobs_run_in_turn(
            campaign=campaign, backend=backend, jobs=jobs, status=status, stop=stop
        )
    else:
        steps, halted, interrupted = _jobs_run_at_once(
            campaign=campaign, backend=backend, jobs=jobs, status=status, stop=stop, connections=connections
        )
    outcomes = [outcome for step in steps if step is not None for outcome in step.outcomes]
    unsent = [send_id for step in steps if step is not None for send_id in step.unsent]
    if interrupted is not None:
        # Redis or the database failed between two requests: record what went out and give back what did
        # not, rather than leave it all `sending`, to end `unknown` and unsent.
        settled = {outcome.recipient.send_id for outcome in outcomes} | set(unsent)
        unsent.extend(r.send_id for job in jobs for r in job.recipients if r.send_id not in settled)
    return WaveResult(outcomes=outcomes, unsent=unsent, halted=halted, interrupted=interrupted)


def _jobs_run_in_turn(
    *, campaign: Campaign, backend: BaseSmsBackend, jobs: list[_Job], status: _CampaignStatus, stop: threading.Event
) -> tuple[list[RequestResult | None], bool, Exception | None]:
    """One request after another on this thread: (each job's result, None for one not reached; whether the
    campaign halted; what interrupted sending)."""
    steps: list[RequestResult | None] = [None] * len(jobs)
    halted = False
    try:
        for index, job in enumerate(jobs):
            if not stop.is_set() and job.paced:
                _rate_wait(job)
            if not stop.is_set() and status.halted():
                # Pause and cancel reach a wave already claimed within STATUS_CHECK_SECONDS.
                halted = True
                stop.set()
            steps[index] = _job_send(campaign=campaign, backend=backend, job=job, stop=stop, waited=True)
    except Exception as exc:
        return steps, halted, exc
    return steps, halted, None


def _jobs_run_at_once(
    *,
    campaign: Campaign,
    backend: BaseSmsBackend,
    jobs: list[_Job],
    status: _CampaignStatus,
    stop: threading.Event,
    connections: int,
) -> tuple[list[RequestResult | None], bool, Exception | None]:
    """The requests over `connections` threads, each taking the next request in order, waiting its turn at
    the rate (the GCRA reservation is atomic, so the threads together keep to it) and sending it, while
    this thread watches the campaign's status. Every thread is done before this returns: what went out is
    all known before it is recorded."""
    halted = False
    interrupted: Exception | None = None
    with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="dispatch-send") as pool:
        futures: list[Future] = [
            pool.submit(_job_send, campaign=campaign, backend=backend, job=job, stop=stop, waited=False) for job in jobs
        ]
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=STATUS_CHECK_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    if future.exception() is not None:
                        interrupted = interrupted or future.exception()
                        stop.set()
                if pending and not stop.is_set() and status.halted():
                    # Pause and cancel reach a wave already claimed within STATUS_CHECK_SECONDS.
                    halted = True
                    stop.set()
        except Exception as exc:
            # The database failed on the status check (or the task was told to stop): the requests in flight
            # finish and are recorded, the others are given back.
            interrupted = interrupted or exc
        finally:
            # Whatever ends the watch early, a request that has not started yet is not sent.
            stop.set()
    steps = [future.result() if future.exception() is None else None for future in futures]
    return steps, halted, interrupted


def _rate_wait(job: _Job) -> None:
    rate_limit_wait(
        sender=job.sender.rate_key,
        segments=job.request.segments * len(job.recipients),
        per_second=job.sender.per_second,
    )


def _job_send(
    *, campaign: Campaign, backend: BaseSmsBackend, job: _Job, stop: threading.Event, waited: bool
) -> RequestResult:
    """One request of a claimed wave: its turn at the sender's rate (unless `waited`, or it is the wave's
    first, which waited before the claim), then the backend; given back unsent once the chunk must stop."""
    if stop.is_set():
        return RequestResult(unsent=[r.send_id for r in job.recipients])
    if job.paced and not waited:
        _rate_wait(job)
        if stop.is_set():
            return RequestResult(unsent=[r.send_id for r in job.recipients])
    recipients = job.recipients
    # The wait for the sender's rate may have taken a recipient to the end of their window: such sends go
    # back to the queue, and the next pass defers them to the next window.
    late = [r.send_id for r in recipients if quiet_window_closing(r)]
    if late:
        recipients = [r for r in recipients if r.send_id not in frozenset(late)]
        if not recipients:
            return RequestResult(unsent=late)
    results = backend_send(
        backend=backend, campaign=campaign, request=job.request, sender=job.sender, recipients=recipients
    )
    account_error = next(
        (res.error for res in results if res.error and res.error.error_class is ErrorClass.ACCOUNT), None
    )
    if account_error is not None:
        stop.set()  # at once: the other threads' requests not yet sent are given back
    return RequestResult(
        outcomes=[Outcome(r, res, job.request) for r, res in zip(recipients, results, strict=True)],
        unsent=late,
        account_error=account_error,
    )


def backend_send(
    *, backend: BaseSmsBackend, campaign: Campaign, request: Request, sender: Sender, recipients: list[Recipient]
) -> list[SendResult]:
    """The backend's answer for each recipient; an answer it could not give is a result with neither a
    message id nor an error, which recording flags `unknown`."""
    closes = [r.open_until for r in recipients if r.open_until is not None]
    message = OutboundMessage(
        sender=sender.number,
        powerpack_uuid=sender.powerpack_uuid,
        destinations=[r.to_number for r in recipients],
        body=request.body,
        status_callback_url=status_callback_url(),
        # One expiry per request: the earliest end of its recipients' windows, so that none can get it later.
        expiry_seconds=message_expiry_seconds(now=timezone.now(), open_until=min(closes)) if closes else None,
    )
    try:
        results = backend.send_message(message)
    except Exception:
        # The backend broke its contract (it classifies provider errors itself): whether the provider
        # took the message cannot be known, so these sends must not be retried blindly.
        log.exception("dispatch_backend_raised", campaign_id=campaign.pk, flagged_unknown=len(recipients))
        return [SendResult(destination=r.to_number) for r in recipients]
    if len(results) != len(recipients):
        log.error(
            "dispatch_backend_answer_miscounted",
            campaign_id=campaign.pk,
            results=len(results),
            destinations=len(recipients),
        )
        return [SendResult(destination=r.to_number) for r in recipients]
    return results
