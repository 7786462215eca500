"""Sending a wave: wait for the sender's rate, claim the wave's sends, hand the requests to the backend over
up to DISPATCH_CONNECTIONS connections at once, record every result. Each request's outcome is returned,
not collected in lists passed around.

With several connections, threads only wait their turn at the rate and call the backend; everything that
touches the database (the claim, the campaign's status, recording) stays on the calling thread, so that a
wave is still claimed and recorded in one transaction each, on the worker's own connection; that thread
claims the next wave while the threads send the one before, so that they do not idle while it does."""

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
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
from sends.services.rate_limit import rate_limit_reserve, rate_limit_wait
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


def waves_send(*, campaign: Campaign, backend: BaseSmsBackend, waves: Iterable[list[Request]]) -> bool:
    """Send a chunk's waves in turn, each claimed in one transaction and recorded in one more. False when the
    chunk must stop: the campaign was paused (by staff or an account error) or cancelled.

    Over one connection a wave is claimed, sent and recorded before the next is claimed. Over several, the
    connections are kept busy from one wave to the next: the next wave is claimed and its requests queued
    behind those in flight before the wave in flight is recorded, so that the threads do not wait while the
    database claims and records (the worker mostly waited there: the requests of a wave take about as long
    as its claim and its recording together). At most two waves are claimed and unrecorded at once."""
    if dispatch_connections(backend) == 1:
        return all(wave_send(campaign=campaign, backend=backend, wave=wave) for wave in waves)
    with ThreadPoolExecutor(max_workers=dispatch_connections(backend), thread_name_prefix="dispatch-send") as pool:
        return _WavePipeline(campaign=campaign, backend=backend, pool=pool).run(waves)


def wave_send(*, campaign: Campaign, backend: BaseSmsBackend, wave: list[Request]) -> bool:
    """One wave over one connection, one request after another: claimed, sent, recorded. False when the
    chunk must stop."""
    jobs = _wave_claim(campaign=campaign, wave=wave, rate_wait=_sleep)
    if not jobs:
        return jobs is not None
    stop = threading.Event()
    steps, halted, interrupted = _jobs_run_in_turn(
        campaign=campaign, backend=backend, jobs=jobs, status=_CampaignStatus(campaign.pk), stop=stop
    )
    account_error = _wave_record(campaign=campaign, jobs=jobs, steps=steps)
    if interrupted is not None:
        raise interrupted
    if account_error is not None:
        _campaign_pause_for(campaign, account_error)
        return False
    return not halted


def dispatch_connections(backend: BaseSmsBackend) -> int:
    """How many requests may be in flight at once: DISPATCH_CONNECTIONS, one for a backend that cannot be
    shared between threads."""
    return settings.DISPATCH_CONNECTIONS if backend.thread_safe else 1


def _wave_claim(*, campaign: Campaign, wave: list[Request], rate_wait: Callable[[float], bool]) -> list[_Job] | None:
    """Claim a wave's recipients in one transaction; the requests to send them (none when nobody was left to
    claim), or None when the chunk must stop (the campaign stopped sending).

    Claiming a wave rather than each request keeps the database work per message small when every
    recipient gets their own text; the price is that a process killed mid-wave leaves up to a wave of
    sends `sending`, to be reconciled (never re-sent blindly). So the wait for the first request's turn at
    the sender's rate comes before the claim: a worker mostly waits there, and holds nothing while it does.
    `rate_wait` waits the given seconds, False when the chunk must stop meanwhile."""
    # Who reached the end of their window meanwhile stays queued, unclaimed: the next pass defers them.
    wave = [
        replace(request, recipients=kept)
        for request in wave
        if (kept := [r for r in request.recipients if not quiet_window_closing(r)])
    ]
    if not wave:
        return []
    first = wave[0]
    sender = request_sender(campaign, first)
    delay = rate_limit_reserve(
        sender=sender.rate_key, segments=first.segments * len(first.recipients), per_second=sender.per_second
    )
    if not rate_wait(delay):
        return None
    window_touch(campaign.pk)
    claimed_ids = sends_claim(campaign_id=campaign.pk, recipients=[r for req in wave for r in req.recipients])
    if not claimed_ids:
        return [] if Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).exists() else None
    jobs = []
    for request in wave:
        recipients = [r for r in request.recipients if r.send_id in claimed_ids]
        if recipients:
            sender = request_sender(campaign, request)
            jobs.append(_Job(request=request, recipients=recipients, sender=sender, paced=bool(jobs)))
    return jobs


def _sleep(seconds: float) -> bool:
    if seconds > 0:
        time.sleep(seconds)
    return True


def _wave_record(*, campaign: Campaign, jobs: list[_Job], steps: list[RequestResult | None]) -> SendError | None:
    """Record what a claimed wave came to (None for a request never run: Redis or the database failed
    before it, and its sends are given back, rather than left `sending` to end `unknown` and unsent); the
    account error that must pause the campaign, if any."""
    outcomes = [outcome for step in steps if step is not None for outcome in step.outcomes]
    unsent = [send_id for step in steps if step is not None for send_id in step.unsent]
    settled = {outcome.recipient.send_id for outcome in outcomes} | set(unsent)
    unsent.extend(r.send_id for job in jobs for r in job.recipients if r.send_id not in settled)
    return record_results_surely(campaign_id=campaign.pk, outcomes=outcomes, unsent=unsent)


def _campaign_pause_for(campaign: Campaign, account_error: SendError) -> None:
    # ApplicationError: another worker paused it first, or staff cancelled it meanwhile.
    with contextlib.suppress(ApplicationError):
        campaign_pause(campaign=campaign, actor=None, reason=f"{account_error.message} ({account_error.code})")


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


class _WavePipeline:
    """A chunk's waves over a pool of threads, each thread taking the next request in order, waiting its turn
    at the rate (the GCRA reservation is atomic, so the threads together keep to it) and sending it, while
    this thread, the one owning the database connection, claims the next wave, records the previous one and
    watches the campaign's status. Every request of a wave is done before the wave is recorded: what went
    out is all known before it is recorded."""

    def __init__(self, *, campaign: Campaign, backend: BaseSmsBackend, pool: ThreadPoolExecutor):
        self.campaign = campaign
        self.backend = backend
        self.pool = pool
        self.stop = threading.Event()  # once set, a request not yet started is given back unsent
        self.status = _CampaignStatus(campaign.pk)
        self.unrecorded: deque[list[tuple[_Job, Future]]] = deque()
        self.halted = False
        self.interrupted: BaseException | None = None
        self.account_error: SendError | None = None

    def run(self, waves: Iterable[list[Request]]) -> bool:
        stopping = False
        try:
            for wave in waves:
                jobs = _wave_claim(campaign=self.campaign, wave=wave, rate_wait=self._wait_watching)
                if jobs:
                    self.unrecorded.append([(job, self.pool.submit(self._job_send, job)) for job in jobs])
                while len(self.unrecorded) > 1:  # the wave before: recorded while this one goes out
                    self._record(self.unrecorded.popleft())
                if jobs is None or self.stop.is_set():
                    stopping = jobs is None
                    break
        except BaseException:
            # The database or Redis failed on this thread (or the task was told to stop): the requests in
            # flight finish and are recorded, the others are given back.
            self.stop.set()
            while self.unrecorded:
                self._record(self.unrecorded.popleft())
            raise
        while self.unrecorded:
            self._record(self.unrecorded.popleft())
        if self.interrupted is not None:
            raise self.interrupted
        if self.account_error is not None:
            _campaign_pause_for(self.campaign, self.account_error)
            return False
        return not (stopping or self.halted)

    def _job_send(self, job: _Job) -> RequestResult:
        try:
            return _job_send(campaign=self.campaign, backend=self.backend, job=job, stop=self.stop, waited=False)
        except BaseException:
            self.stop.set()  # at once: the requests not yet started are given back
            raise

    def _wait_watching(self, seconds: float) -> bool:
        """Wait `seconds` for the first request's turn at the rate, watching the wave in flight meanwhile;
        False when the chunk must stop."""
        self._watch([future for wave in self.unrecorded for _, future in wave], until=time.monotonic() + seconds)
        return not self.stop.is_set()

    def _watch(self, futures: list[Future], *, until: float | None = None) -> None:
        """Until `futures` are done (or `until`), check the campaign's status: pause and cancel reach a wave
        already claimed within STATUS_CHECK_SECONDS."""
        pending = {future for future in futures if not future.done()}
        while pending:
            timeout = STATUS_CHECK_SECONDS if until is None else min(STATUS_CHECK_SECONDS, until - time.monotonic())
            if timeout <= 0:
                return
            _, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            if pending and not self.stop.is_set() and self.status.halted():
                self.halted = True
                self.stop.set()
        if until is not None:
            _sleep(until - time.monotonic())

    def _record(self, wave: list[tuple[_Job, Future]]) -> None:
        futures = [future for _, future in wave]
        self._watch(futures)
        steps = []
        for future in futures:
            if future.exception() is None:
                steps.append(future.result())
            else:
                self.interrupted = self.interrupted or future.exception()
                steps.append(None)
        account_error = _wave_record(campaign=self.campaign, jobs=[job for job, _ in wave], steps=steps)
        self.account_error = self.account_error or account_error


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
