"""What an uploaded contact file may be: its size (CONTACT_IMPORT_MAX_BYTES) and its name.

`contact_import_start` enforces both on every upload. The admin page and the API also guard the size
before the body is read (`upload_size_guard`): a request that announces a larger body is refused without
reading it, and one that does not (or lies) is cut off as soon as its file passes the cap.
"""

import re
from pathlib import PurePath

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from django.utils.text import get_valid_filename

from smscampaigns.errors import ApplicationError

# The person's file name is kept to show (ContactImport.source_name) and to store the file under.
UPLOAD_NAME_MAX_CHARS = 200
# Room in a request for the form's other fields and the multipart framing around the file.
FORM_FIELDS_ALLOWANCE = 64 * 1024
TOO_LARGE = "too_large"  # the ApplicationError code the API answers with 413


def upload_too_large(size: int | None = None) -> ApplicationError:
    most = settings.CONTACT_IMPORT_MAX_BYTES
    got = f" ({size:,} bytes)" if size else ""
    return ApplicationError(
        f"the file is larger than {most:,} bytes{got}, the most an upload may be (CONTACT_IMPORT_MAX_BYTES): "
        "split it, or import it on the server with `manage.py import_contacts`",
        field="file",
        code=TOO_LARGE,
    )


def upload_size_check(file) -> None:
    size = getattr(file, "size", None)
    if size is not None and size > settings.CONTACT_IMPORT_MAX_BYTES:
        raise upload_too_large(size)


def upload_names(file) -> tuple[str, str]:
    """(the name to show, the name to store under) of an upload; refuses a name too long to keep."""
    name = (getattr(file, "name", "") or "").strip()
    if len(name) > UPLOAD_NAME_MAX_CHARS:
        raise ApplicationError(
            f"the file name is {len(name):,} characters long; at most {UPLOAD_NAME_MAX_CHARS} are kept: "
            "rename the file and upload it again",
            field="file",
        )
    shown = name or "upload.csv"
    # Stored under a short, plain version of it: the storage column holds 100 characters with the folder,
    # and a name the storage cannot clean (only spaces, dots) must not fail the upload.
    path = PurePath(get_valid_filename(shown) if re.search(r"\w", shown) else "upload.csv")
    stem = path.stem[:50] or "upload"
    suffix = path.suffix[:10] if path.suffix[1:].isalnum() else ""
    return shown, f"{stem}{suffix}"


class UploadSizeCap(FileUploadHandler):
    """The first of a request's upload handlers: a body announced larger than the cap is not parsed at all,
    and the bytes of files are counted as they arrive, reading stopping as soon as they pass the cap.

    `exceeded` tells the view to refuse the upload (the form then holds no file, or part of one).
    """

    def __init__(self, request=None, *, max_bytes: int):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.received = 0
        self.exceeded = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > self.max_bytes + FORM_FIELDS_ALLOWANCE:
            self.exceeded = True
            return QueryDict(encoding=encoding), MultiValueDict()  # an empty form: not a byte is read
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.exceeded = True
            raise StopUpload(connection_reset=True)  # not a byte more is read
        return raw_data

    def file_complete(self, file_size):
        return None  # the handlers after this one build the file


def upload_size_guard(request) -> UploadSizeCap:
    """Install the cap on `request` before anything reads its body (a CSRF check does). `exceeded` is set
    at once when the announced Content-Length is over the cap, otherwise while the body is parsed."""
    cap = UploadSizeCap(request, max_bytes=settings.CONTACT_IMPORT_MAX_BYTES)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    cap.exceeded = length > cap.max_bytes + FORM_FIELDS_ALLOWANCE
    request.upload_handlers.insert(0, cap)
    return cap
