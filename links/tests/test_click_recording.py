"""Recording a click never holds up its redirect, and every click is stored exactly once: through Redis that is
down or slower than its timeout, a database that keeps the flush waiting, a flush that dies half way, and
the embedded default's spool written by many threads and processes at once."""

import multiprocessing
import select
import socket
import threading
import time
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest
from django.db import connection
from django.test import Client

from links.models import Click
from links.services.clicks import ClickSpool, clicks_apply, link_clicks_flush
from links.tests.test_clicks import IPHONE, codes_of

# A redirect that waited on Redis or the database would take at least a second (Redis' socket timeout).
ANSWERED_AT_ONCE = 0.5


class RedisProxy:
    """Between the app and the real Redis: passes traffic through, holds Redis' replies back for `delay`
    seconds while slow (so that the client times out on commands Redis has carried out), or refuses
    connections while down."""

    def __init__(self, upstream_port: int, *, delay: float = 1.5):
        self.upstream_port = upstream_port
        self.delay = delay
        self.slow = False
        self.down = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client, upstream):
        sockets = [client, upstream]
        try:
            while not self._stopped:
                ready, _, _ = select.select(sockets, [], [], 0.1)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is upstream and self.slow:
                        time.sleep(self.delay)
                    (upstream if source is client else client).sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def stop(self):
        self._stopped = True
        self.listener.close()


def fetch_timed(code: str, ua: str = IPHONE) -> float:
    started = time.monotonic()
    response = Client(HTTP_USER_AGENT=ua).get(f"/l/{code}")
    assert response.status_code == 302
    return time.monotonic() - started


@pytest.mark.django_db
@pytest.mark.parametrize("trouble", ["slow", "down"])
def test_clicks_wait_out_a_slow_or_absent_redis_and_are_counted_once(sent_campaign, settings, trouble):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    campaign, _ = sent_campaign(3)
    redis_url = settings.REDIS_URL
    real = urlsplit(redis_url)
    proxy = RedisProxy(real.port or 6379)
    settings.REDIS_URL = f"redis://127.0.0.1:{proxy.port}{real.path}"
    try:
        setattr(proxy, trouble, True)
        codes = [short.code for short in codes_of(campaign)]
        timings = [fetch_timed(code) for code in codes] + [fetch_timed(codes[0])]  # and a repeat
        assert max(timings) < ANSWERED_AT_ONCE, timings
        time.sleep(2.5)  # the sender tries (and, when slow, times out after Redis took the clicks) meanwhile
        setattr(proxy, trouble, False)
        link_clicks_flush()
    finally:
        proxy.stop()
        settings.REDIS_URL = redis_url
    kinds = sorted(Click.objects.filter(campaign=campaign).values_list("kind", flat=True))
    assert kinds == ["click", "click", "click", "repeat"]
    campaign.refresh_from_db()
    assert campaign.clicked_count == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="locks a table from a second PostgreSQL session")
def test_without_redis_redirects_answer_while_the_database_keeps_the_flush_waiting(sent_campaign, settings):
    settings.REDIS_URL = ""
    campaign, _ = sent_campaign(3)
    codes = [short.code for short in codes_of(campaign)]
    flushed = []
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("LOCK TABLE links_click IN ACCESS EXCLUSIVE MODE")  # held until this block commits
        timings = [fetch_timed(code) for code in codes + codes[:1]]
        assert max(timings) < ANSWERED_AT_ONCE, timings

        def flush():
            try:
                flushed.append(link_clicks_flush())
            finally:
                connection.close()

        flusher = threading.Thread(target=flush)
        flusher.start()
        time.sleep(1)
        assert flusher.is_alive()  # waiting on the lock, its clicks still in the spool
        assert fetch_timed(codes[1]) < ANSWERED_AT_ONCE  # and redirects still answer
    flusher.join(timeout=30)
    assert flushed == [4]  # the clicks spooled before it started; the later one waits for the next flush
    assert link_clicks_flush() == 1
    kinds = sorted(Click.objects.filter(campaign=campaign).values_list("kind", flat=True))
    assert kinds == ["click", "click", "click", "repeat", "repeat"]


@pytest.mark.django_db
def test_without_redis_the_redirect_spools_the_click_and_the_flush_writes_it(sent_campaign, settings):
    settings.REDIS_URL = ""
    campaign, _ = sent_campaign(1)
    code = codes_of(campaign)[0].code
    fetch_timed(code)
    assert not Click.objects.exists()  # the redirect wrote no row
    assert (settings.LINK_CLICKS_SPOOL_DIR / "clicks.jsonl").read_text().count("\n") == 1
    assert link_clicks_flush() == 1
    assert Click.objects.get().kind == Click.Kind.CLICK
    assert link_clicks_flush() == 0


@pytest.mark.django_db
def test_a_flush_that_dies_after_writing_leaves_its_clicks_to_the_next_one_counted_once(sent_campaign, settings):
    settings.REDIS_URL = ""
    campaign, _ = sent_campaign(2)
    for short in codes_of(campaign):
        fetch_timed(short.code)
    fetch_timed(codes_of(campaign)[0].code)

    def write_then_die(lines):
        from links.services.clicks import _event

        clicks_apply(events=[_event("", fields) for fields in lines])
        raise RuntimeError("the worker died before removing what it wrote")

    spool = ClickSpool(settings.LINK_CLICKS_SPOOL_DIR)
    with pytest.raises(RuntimeError):
        spool.drain(write_then_die, batch=100)
    assert Click.objects.count() == 3
    fetch_timed(codes_of(campaign)[1].code)  # a click after the crash, in a new spool file
    assert link_clicks_flush() == 4  # the three again (adding nothing) and the new one
    kinds = sorted(Click.objects.values_list("kind", flat=True))
    assert kinds == ["click", "click", "repeat", "repeat"]
    campaign.refresh_from_db()
    assert campaign.clicked_count == 2


def _append_many(directory, prefix: str, count: int) -> None:
    spool = ClickSpool(directory)
    for n in range(count):
        spool.append({"id": f"{prefix}-{n}", "pad": "x" * 300})


def test_the_spool_loses_and_repeats_nothing_under_concurrent_writers_and_flushes(tmp_path):
    directory = tmp_path / "spool"
    drained: list[str] = []
    spool = ClickSpool(directory)
    fork = multiprocessing.get_context("fork")
    processes = [fork.Process(target=_append_many, args=(directory, f"p{n}", 400)) for n in range(3)]
    threads = [threading.Thread(target=_append_many, args=(directory, f"t{n}", 400)) for n in range(3)]
    for worker in processes + threads:
        worker.start()
    while any(p.is_alive() for p in processes) or any(t.is_alive() for t in threads):
        spool.drain(lambda lines: drained.extend(line["id"] for line in lines), batch=50)
        time.sleep(0.001)
    for process in processes:
        process.join()
        assert process.exitcode == 0
    spool.drain(lambda lines: drained.extend(line["id"] for line in lines), batch=50)
    expected = {f"{kind}{n}-{i}" for kind in "pt" for n in range(3) for i in range(400)}
    assert len(drained) == len(expected) == len(set(drained))
    assert set(drained) == expected


def test_a_second_flush_waits_its_turn_on_the_spool(tmp_path):
    spool = ClickSpool(tmp_path)
    spool.append({"id": uuid.uuid4().hex})
    seen = []

    def nested(lines):
        seen.append(spool.drain(lambda _: None, batch=10))  # a flush starting while this one holds the spool

    assert spool.drain(nested, batch=10) == 1
    assert seen == [None]
