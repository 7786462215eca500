"""Reading contact CSV files as spreadsheets export them: any delimiter, a BOM, stray spaces, short rows.

The reader streams: it holds one line at a time, so a 1 GB file never loads whole, and a line longer than
MAX_LINE_BYTES is refused rather than read into memory. Whatever is wrong with the file as a whole (not
UTF-8, no phone column, duplicate headers, more columns than CONTACT_IMPORT_MAX_COLUMNS) is raised as an
ApplicationError before the first row is returned, so nothing is written from a file that cannot be read.

Every CSV the product writes goes through `spreadsheet_safe_writer` (smscampaigns/spreadsheets.py, where
apps below contacts can use it too; importable from here), so that a cell typed by a person
(`=HYPERLINK(...)`) is shown by a spreadsheet, never run as a formula.
"""

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings

from contacts.attributes import attribute_name_problem
from smscampaigns.errors import ApplicationError
from smscampaigns.spreadsheets import spreadsheet_safe_cell as spreadsheet_safe_cell
from smscampaigns.spreadsheets import spreadsheet_safe_writer as spreadsheet_safe_writer

# Headers are compared after lower-casing and turning spaces and hyphens into underscores.
PHONE_HEADERS = ("phone", "phone_number", "mobile")
NAMED_HEADERS = {
    "first_name": "first_name",
    "firstname": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "timezone": "timezone",
    "time_zone": "timezone",
}
DELIMITERS = (",", ";", "\t")
# A line (a header row, or a data row with its cells) is at most this long. A longer one is not a contact
# spreadsheet, and reading it would hold all of it in memory. _check_utf8 reads in chunks of this size.
MAX_LINE_BYTES = 1 << 20
_CHECK_CHUNK = MAX_LINE_BYTES
_LOOKS_LIKE_A_NUMBER = re.compile(r"[\d\s()+.\-]{6,}")
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


@dataclass(slots=True)
class RowError:
    line: int
    column: str
    value: str
    reason: str

    def as_row(self) -> list:
        return [self.line, self.column, self.value, self.reason]


@dataclass(slots=True)
class SourceRow:
    """One data row of the file, cells already mapped to what they mean."""

    line: int
    phone: str
    first_name: str = ""
    last_name: str = ""
    timezone: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    problem: RowError | None = None


def shortened(value: str, most: int = 60) -> str:
    """A cell as an error report quotes it: enough to find it in the file, never the whole of a huge one."""
    return value if len(value) <= most else value[:most] + "..."


def canonical_header(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


# --- Reading --------------------------------------------------------------------------------------------


class ContactCsv:
    """A contact file opened for reading: `phone_header`, `named` and `attributes` say how its headers were
    understood, `rows()` streams its data rows."""

    def __init__(self, binary: BinaryIO, *, headerless_ok: bool = False):
        self._binary = binary
        self.bytes_total = _size_of(binary)
        self.bytes_read = 0
        _check_utf8(binary)
        self._lines = self._decoded_lines()
        header_line = self._first_non_blank_line()
        if header_line is None:
            raise ApplicationError("the file is empty: expected a header row naming a phone column", field="file")
        self.delimiter = max(DELIMITERS, key=header_line.count) if any(d in header_line for d in DELIMITERS) else ","
        self._reader = csv.reader(_chain_one(header_line, self._lines), delimiter=self.delimiter, skipinitialspace=True)
        self.header_line = self._blank_lines_before_header + 1
        self.headers = [h.strip() for h in self._header_cells(header_line)]
        self._first_row: list[str] | None = None
        if headerless_ok and len(self.headers) == 1 and _LOOKS_LIKE_A_NUMBER.fullmatch(self.headers[0]):
            # A bare list of numbers (a do-not-call extract): the first line is data, not a header.
            self._first_row, self.headers = self.headers, ["phone"]
        self._map_headers()

    def _header_cells(self, header_line: str) -> list[str]:
        try:
            cells = next(self._reader)
        except csv.Error as exc:
            # The csv module does not say which cell; a header is rarely quoted, so a plain split finds it.
            limit = csv.field_size_limit()
            column = next((n for n, cell in enumerate(header_line.split(self.delimiter), 1) if len(cell) > limit), None)
            where = f"line {self.header_line}" + (f", column {column}" if column else "")
            raise ApplicationError(
                f"{where}: the header row cannot be read as CSV ({exc}); a header is a short name such as 'phone'",
                field="file",
            ) from None
        most = settings.CONTACT_IMPORT_MAX_COLUMNS
        if len(cells) > most:
            raise ApplicationError(
                f"line {self.header_line} has {len(cells):,} columns; a contact file may have at most {most:,} "
                "(CONTACT_IMPORT_MAX_COLUMNS): remove the columns you do not need",
                field="file",
            )
        return cells

    def _map_headers(self) -> None:
        for index, header in enumerate(self.headers):
            if problem := attribute_name_problem(header):
                raise ApplicationError(
                    f"line {self.header_line}, column {index + 1}: header {shortened(header, 40)!r} is too long: "
                    f"{problem}",
                    field="file",
                )
        canonical = [canonical_header(h) for h in self.headers]
        seen: dict[str, int] = {}
        for index, name in enumerate(canonical):
            if name and name in seen:
                raise ApplicationError(
                    f"header {self.headers[index]!r} appears twice (columns {seen[name] + 1} and {index + 1})",
                    field="file",
                )
            seen[name] = index
        phone_index = next((seen[name] for name in PHONE_HEADERS if name in seen), None)
        if phone_index is None:
            found = ", ".join(repr(h) for h in self.headers if h) or "none"
            raise ApplicationError(
                f"no phone column: expected a header named {', '.join(PHONE_HEADERS)}; "
                f"found {found} (delimiter {self.delimiter!r})",
                field="file",
            )
        self.phone_index = phone_index
        self.phone_header = self.headers[phone_index]
        self.named: dict[str, int] = {}
        self.attributes: dict[str, int] = {}
        for index, name in enumerate(canonical):
            if index == phone_index or not name:
                continue
            target = NAMED_HEADERS.get(name)
            if target and target not in self.named:
                self.named[target] = index
            else:
                self.attributes[name] = index
        self.width = len(self.headers)

    def rows(self) -> Iterator[SourceRow]:
        """Every non-blank data row, with its line number in the file (the first line is 1)."""
        reader = self._reader
        phone_index, named, attributes, width = self.phone_index, self.named, self.attributes, self.width
        first_name_index = named.get("first_name")
        last_name_index = named.get("last_name")
        timezone_index = named.get("timezone")
        line_after = reader.line_num + self._blank_lines_before_header
        if self._first_row is not None:
            line_after -= 1
            reader = _chain_one(self._first_row, reader)
        for cells in _csv_rows(reader, lambda: self._reader.line_num + self._blank_lines_before_header):
            line = line_after + 1
            line_after = self._reader.line_num + self._blank_lines_before_header
            if not any(c.strip() for c in cells):
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            row = SourceRow(
                line=line,
                phone=cells[phone_index].strip(),
                first_name="" if first_name_index is None else cells[first_name_index].strip(),
                last_name="" if last_name_index is None else cells[last_name_index].strip(),
                timezone="" if timezone_index is None else cells[timezone_index].strip(),
                attributes={name: value for name, index in attributes.items() if (value := cells[index].strip())},
            )
            extra = [c for c in cells[width:] if c.strip()]
            if extra:
                row.problem = RowError(
                    line,
                    "",
                    shortened(self.delimiter.join(extra)),
                    f"{len(cells):,} cells but the header has {width}: is a value holding a "
                    f"{self.delimiter!r} missing its quotes?",
                )
            yield row

    def _decoded_lines(self) -> Iterator[str]:
        # Line lengths were checked by _check_utf8 (a stream that cannot seek back is not checked, and the
        # csv module's field limit and CONTACT_IMPORT_MAX_COLUMNS still bound what a line can become).
        first = True
        for number, raw in enumerate(self._binary, 1):
            self.bytes_read += len(raw)
            if b"\x00" in raw:
                raise _nul_error(number)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _encoding_error(number, raw[exc.start]) from None
            if first:
                text = text.removeprefix("\ufeff")
                first = False
            # A lone carriage return ends a line too (old Mac exports); the csv module refuses one unquoted.
            # Django's File splits lines at a lone CR already: the empty piece after it is no line.
            yield from (piece for piece in _LONE_CR.split(text) if piece) if "\r" in text else (text,)

    def _first_non_blank_line(self) -> str | None:
        self._blank_lines_before_header = 0
        for text in self._lines:
            if text.strip():
                return text
            self._blank_lines_before_header += 1
        return None


def _csv_rows(reader, next_line) -> Iterator[list[str]]:
    """The reader's rows; what the csv module cannot parse becomes an ApplicationError naming the line."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ApplicationError(
                f"line {next_line()} cannot be read as CSV ({exc}): is a quote left open?", field="file"
            ) from None
        yield cells


def _chain_one(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _encoding_error(line: int, byte: int) -> ApplicationError:
    return ApplicationError(
        f"line {line} is not UTF-8 text (byte 0x{byte:02X}); save the file as 'CSV UTF-8' and import it again",
        field="file",
    )


def _long_line_error(line: int) -> ApplicationError:
    return ApplicationError(
        f"line {line} is longer than {MAX_LINE_BYTES:,} bytes, more than any contact row holds: is this the "
        "right file, saved as CSV?",
        field="file",
    )


def _nul_error(line: int) -> ApplicationError:
    return ApplicationError(
        f"line {line} holds a NUL byte (0x00), which no text file has; save the file as 'CSV UTF-8' and import "
        "it again",
        field="file",
    )


def _size_of(binary: BinaryIO) -> int:
    size = getattr(binary, "size", None)  # Django's UploadedFile
    if size is not None:
        return size
    try:
        position = binary.tell()
        end = binary.seek(0, 2)
        binary.seek(position)
        return end - position
    except (OSError, AttributeError):
        return 0


def _check_utf8(binary: BinaryIO) -> None:
    """Decode the whole file once before anything is imported, so a wrongly encoded file (or one holding NUL
    bytes, which no text field may store) writes nothing."""
    try:
        start = binary.tell()
    except (OSError, AttributeError):
        return  # not seekable: the line-by-line decoding still names the line
    head = binary.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ApplicationError(
            "the file is UTF-16 (Excel 'Unicode Text'); save it as 'CSV UTF-8' and import it again", field="file"
        )
    binary.seek(start)
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    since_newline = 0  # bytes of the line still open at the end of the previous chunk
    while chunk := binary.read(_CHECK_CHUNK):
        if (nul := chunk.find(b"\x00")) >= 0:
            raise _nul_error(lines_before + chunk.count(b"\n", 0, nul) + 1)
        # A chunk is no longer than a line may be, so only a line running across chunks can be too long.
        # A lone CR ends a line too (old Mac exports).
        first_end = min((i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0), default=-1)
        since_newline += len(chunk) if first_end < 0 else first_end + 1
        if since_newline > MAX_LINE_BYTES:
            raise _long_line_error(lines_before + 1)
        if first_end >= 0:
            since_newline = len(chunk) - max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) - 1
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            # Bytes carried over from the previous chunk are part of one character, never a newline.
            line = lines_before + exc.object[: exc.start].count(b"\n") + 1
            raise _encoding_error(line, exc.object[exc.start]) from None
        lines_before += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise _encoding_error(lines_before + 1, exc.object[exc.start]) from None
    binary.seek(start)
