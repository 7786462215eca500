"""The embedded default's broker (a folder, `make run` without REDIS_URL): a message is never seen half
written, and a real worker keeps up with what beat queues, so that delivery reports are applied."""

import os
import time

import pytest
from kombu import Connection
from kombu.utils.json import register_type

from sends.models import CampaignSend
from sends.services.delivery_reports import delivery_report_record
from sends.tests.conftest import wait_for
from sends.tests.factories import sent_send
from sends.tests.plivo_callbacks import status_payload


class _Snoop:
    """A payload value whose serialisation records which messages a reader could take at that moment."""

    folder = ""
    readable_while_writing: list[list[str]] = []


def _snoop_encode(_value) -> str:
    _Snoop.readable_while_writing.append(sorted(n for n in os.listdir(_Snoop.folder) if n.endswith(".msg")))
    return "snooped"


register_type(_Snoop, "smscampaigns-test-snoop", _snoop_encode, lambda value: value)


def test_a_message_cannot_be_taken_before_it_is_written_whole(tmp_path):
    """kombu's own file-system transport creates the file under its final name and then writes it: a worker
    polling in between took an empty message and stopped ("Unrecoverable error")."""
    folder = tmp_path / "broker"
    folder.mkdir()
    _Snoop.folder, _Snoop.readable_while_writing = str(folder), []
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False}
    transport = "smscampaigns.embedded_broker:Transport"
    with Connection("filesystem://", transport=transport, transport_options=options) as connection:
        channel = connection.default_channel
        channel._put("celery", {"body": _Snoop()})
        assert _Snoop.readable_while_writing == [[]]
        assert channel._get("celery") == {"body": "snooped"}
        assert os.listdir(folder) == []  # nothing left behind under a hidden name either


@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_embedded_broker_keeps_up_with_beat_and_applies_delivery_reports(workers, tmp_path):
    """With kombu's default poll (a message a second at most) beat's drains, two a second, queued up faster
    than the worker took them, expired in the queue unrun ("Discarding revoked task"), and a report was
    never applied."""
    send = sent_send()
    # Two child processes, as `make run` starts the worker: the one whose slots fill up and who then waits a poll.
    workers.start("w1", concurrency=2, REDIS_URL="", VAR_DIR=str(tmp_path / "var"), LOG_LEVEL="INFO")
    time.sleep(8)  # long enough for a queue that the worker cannot keep up with to build
    delivery_report_record(
        payload=status_payload(message_uuid=send.provider_message_uuid, status="delivered", to=send.to_number)
    )
    wait_for(
        lambda: CampaignSend.objects.get(pk=send.pk).status == CampaignSend.Status.DELIVERED,
        timeout=20,
        message="the delivery report applied by the worker's drain",
        workers=workers,
    )
    assert "Discarding revoked task" not in workers.logs()
    assert "Unrecoverable error" not in workers.logs()
