"""The embedded default's Celery broker: kombu's file-system transport, with each message written whole before
it can be seen.

kombu's own `_put` creates the message file under its final name and then writes it, while its `_get` takes
the first file by name (renaming it away) without waiting for the writer's lock. A worker that polls while
beat is writing takes an empty file, fails to decode it, and stops with "Unrecoverable error". Here the
message is written under a name no queue reads (a leading dot) and renamed to its final name, which is
atomic on one file system, so a reader finds a whole message or none.
"""

import contextlib
import os
import tempfile
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# Seconds a worker waits before looking again when it has no free slot or the queue is empty. kombu's 1 s
# caps a worker at about one task a second, fewer than beat alone queues (a delivery-report drain every
# DELIVERY_REPORTS_DRAIN_SECONDS), so tasks pile up and expire unrun. Listing a folder this often costs little.
POLLING_INTERVAL_SECONDS = 0.05


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: written under a hidden name, then renamed to the one `_get` reads."""
        # kombu's file name: its sort order is the queue's order.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        try:
            # `.writing-...`: _get skips it, since it only takes names of the form <stamp>.<queue>.msg.
            handle, partial = tempfile.mkstemp(dir=self.data_folder_out, prefix=".writing-", suffix=".part")
            try:
                with os.fdopen(handle, "wb") as f:
                    f.write(str_to_bytes(dumps(payload)))
                os.replace(partial, final)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(partial)
                raise
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
    polling_interval = POLLING_INTERVAL_SECONDS
