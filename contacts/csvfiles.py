"""Reading contact CSV files as spreadsheets export them: any delimiter, a BOM, stray spaces, short rows.

The reader streams: it holds one line at a time, so a 1 GB file never loads whole, and a line longer than
MAX_LINE_BYTES is refused rather than read into memory. Whatever is wrong with the file as a whole (no
readable encoding, no phone column, duplicate headers, more columns than CONTACT_IMPORT_MAX_COLUMNS) is
raised as an ApplicationError before the first row is returned, so nothing is written from a file that
cannot be read.

Encodings, as Excel writes them: UTF-8 (with or without a BOM; "CSV UTF-8"), UTF-16 with a BOM or
UTF-16LE without one ("Unicode Text", tab separated), and Windows-1252 (plain "CSV" on a Western Windows).
A file that is not valid UTF-8 and has no UTF-8 sequence before its first bad byte is read as Windows-1252;
one that mixes both is refused. `ContactCsv.encoding` says which was used, for the import's report.

Columns are understood by their header (phone, first_name, ...; any other column is an attribute) unless a
mapping says otherwise: {header: target} with the targets of IMPORT_TARGETS, "field:<key>" for a custom
field, "tags" for a column of tag names, "ignore" to skip one.

Every CSV the product writes goes through `spreadsheet_safe_writer` (smscampaigns/spreadsheets.py, where
apps below contacts can use it too; importable from here), so that a cell typed by a person
(`=HYPERLINK(...)`) is shown by a spreadsheet, never run as a formula.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import chain
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
# What a column may be mapped to; besides these, "field:<key>" for a custom field.
IMPORT_TARGETS = {
    "phone": "Phone number",
    "first_name": "First name",
    "last_name": "Last name",
    "name": "Full name (first word: first name, the rest: last name)",
    "timezone": "Time zone",
    "tags": "Tags (several separated by , ; or |)",
    "attribute": "Attribute named after the header",
    "ignore": "Ignore",
}
FIELD_TARGET_PREFIX = "field:"
# Python codec -> how the import's report names it.
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with BOM)",
    "utf-16": "UTF-16 (with BOM)",
    "utf-16-le": "UTF-16LE (no BOM)",
    "utf-16-be": "UTF-16BE (no BOM)",
    "cp1252": "Windows-1252",
}
# A line (a header row, or a data row with its cells) is at most this long. A longer one is not a contact
# spreadsheet, and reading it would hold all of it in memory. _check_text reads in chunks of this size.
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
    tags: str = ""  # the cell of the tags column, names not yet split
    problem: RowError | None = None


def shortened(value: str, most: int = 60) -> str:
    """A cell as an error report quotes it: enough to find it in the file, never the whole of a huge one."""
    return value if len(value) <= most else value[:most] + "..."


def canonical_header(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


# --- Reading --------------------------------------------------------------------------------------------


def import_mapping_parse(options: list[str]) -> dict[str, str]:
    """`["Mobile=phone", "Score=field:score"]` (the command's --map options) as a mapping {header: target}."""
    mapping: dict[str, str] = {}
    for option in options:
        header, equals, target = option.rpartition("=")
        if not equals or not header.strip() or not target.strip():
            raise ApplicationError(f"{option!r} is not COLUMN=TARGET, e.g. Mobile=phone or Score=field:score")
        if header.strip() in mapping:
            raise ApplicationError(f"column {header.strip()!r} is mapped twice")
        mapping[header.strip()] = target.strip()
    return mapping


def _target_problem(target: str) -> str | None:
    if target in IMPORT_TARGETS:
        return None
    if target.startswith(FIELD_TARGET_PREFIX) and target.removeprefix(FIELD_TARGET_PREFIX):
        return None
    return f"{target!r} is not a target: one of {', '.join(IMPORT_TARGETS)} or field:<key>"


class ContactCsv:
    """A contact file opened for reading: `phone_header`, `named`, `attributes` and `tags_index` say how its
    columns are understood (by `mapping`, else by their header), `rows()` streams its data rows.

    `phone_required=False` opens a file whose columns are still to be mapped (the admin's mapping step)."""

    def __init__(
        self,
        binary: BinaryIO,
        *,
        headerless_ok: bool = False,
        mapping: dict[str, str] | None = None,
        phone_required: bool = True,
    ):
        self._binary = binary
        self.bytes_total = _size_of(binary)
        self._bytes_read = 0
        try:
            self._start = binary.tell()
        except (OSError, AttributeError):
            self._start = None
        self.codec = _detect_encoding(binary)
        # Checked whole already (encoding, NUL bytes, line lengths): decoded by the io module, line by line.
        self._wrapped = None
        self.encoding = ENCODING_NAMES[self.codec]
        self.mapping = dict(mapping or {})
        self.phone_required = phone_required
        self._lines = self._decoded_lines()
        header_line = self._first_non_blank_line()
        if header_line is None:
            raise ApplicationError("the file is empty: expected a header row naming a phone column", field="file")
        self.delimiter = max(DELIMITERS, key=header_line.count) if any(d in header_line for d in DELIMITERS) else ","
        self._reader = csv.reader(chain((header_line,), self._lines), delimiter=self.delimiter, skipinitialspace=True)
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
        explicit = self._explicit_targets(seen)
        self.named: dict[str, int] = {}
        self.attributes: dict[str, int] = {}
        self.tags_index: int | None = None
        phone_index = None
        for index, target in explicit.items():
            header = self.headers[index]
            if target in ("phone", "first_name", "last_name", "name", "timezone", "tags"):
                taken = phone_index if target == "phone" else self.tags_index if target == "tags" else None
                taken = self.named.get(target, taken)
                if taken is not None:
                    raise ApplicationError(
                        f"columns {self.headers[taken]!r} and {header!r} are both mapped to {target}", field="mapping"
                    )
                if target == "phone":
                    phone_index = index
                elif target == "tags":
                    self.tags_index = index
                else:
                    self.named[target] = index
            elif target.startswith(FIELD_TARGET_PREFIX):
                self._attribute(target.removeprefix(FIELD_TARGET_PREFIX), index)
            elif target == "attribute" and canonical[index]:
                self._attribute(canonical[index], index)
        if phone_index is None:
            phone_index = next(
                (seen[name] for name in PHONE_HEADERS if name in seen and seen[name] not in explicit), None
            )
        if phone_index is None and self.phone_required:
            found = ", ".join(repr(h) for h in self.headers if h) or "none"
            raise ApplicationError(
                f"no phone column: expected a header named {', '.join(PHONE_HEADERS)} (or a column mapped to "
                f"phone); found {found} (delimiter {self.delimiter!r})",
                field="file",
            )
        self.phone_index = phone_index
        self.phone_header = self.headers[phone_index] if phone_index is not None else ""
        for index, name in enumerate(canonical):
            if index == phone_index or index in explicit or not name:
                continue
            target = NAMED_HEADERS.get(name)
            if target and target not in self.named and not (target != "name" and "name" in self.named):
                self.named[target] = index
            else:
                self._attribute(name, index)
        self.width = len(self.headers)

    def _explicit_targets(self, seen: dict[str, int]) -> dict[int, str]:
        """{column index: target} of the mapping; its headers match as written, else as canonical names."""
        explicit: dict[int, str] = {}
        for header, target in self.mapping.items():
            index = next((i for i, h in enumerate(self.headers) if h == header.strip()), None)
            if index is None:
                index = seen.get(canonical_header(header))
            if index is None:
                found = ", ".join(repr(h) for h in self.headers if h) or "none"
                raise ApplicationError(
                    f"the mapping names column {header!r}, which the file does not have; its columns: {found}",
                    field="mapping",
                )
            if problem := _target_problem(target):
                raise ApplicationError(f"column {header!r}: {problem}", field="mapping")
            explicit[index] = target
        return explicit

    def _attribute(self, name: str, index: int) -> None:
        if name in self.attributes:
            raise ApplicationError(
                f"columns {self.headers[self.attributes[name]]!r} and {self.headers[index]!r} both give {name!r}",
                field="mapping",
            )
        self.attributes[name] = index

    def automatic_targets(self, field_keys: frozenset[str] = frozenset()) -> list[str]:
        """What each column is taken for without a mapping (a custom field's key as header: that field)."""
        targets = ["attribute"] * len(self.headers)
        if self.phone_index is not None:
            targets[self.phone_index] = "phone"
        for target, index in self.named.items():
            targets[index] = target
        if self.tags_index is not None:
            targets[self.tags_index] = "tags"
        for name, index in self.attributes.items():
            if name in field_keys:
                targets[index] = FIELD_TARGET_PREFIX + name
        for index, header in enumerate(self.headers):
            if not header.strip():
                targets[index] = "ignore"
        return targets

    def preview(self, count: int) -> list[list[str]]:
        """The first `count` non-blank data rows as they are in the file, each as wide as the header."""
        rows = []
        for cells in _csv_rows(self._reader, lambda: self._reader.line_num):
            if not any(c.strip() for c in cells):
                continue
            rows.append((cells + [""] * len(self.headers))[: len(self.headers)])
            if len(rows) == count:
                break
        return rows

    @property
    def layout(self) -> "RowLayout":
        """Which cell of a row is what, apart from the file: what a worker process needs to read rows."""
        named = self.named
        return RowLayout(
            width=self.width,
            delimiter=self.delimiter,
            phone_index=self.phone_index,
            first_name_index=named.get("first_name"),
            last_name_index=named.get("last_name"),
            name_index=named.get("name"),
            timezone_index=named.get("timezone"),
            tags_index=self.tags_index,
            attributes=tuple(self.attributes.items()),
        )

    def rows(self) -> Iterator[SourceRow]:
        """Every non-blank data row, with its line number in the file (the first line is 1)."""
        source_row = self.layout.source_row
        for line, cells in self.records():
            yield source_row(line, cells)

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Every non-blank data row as (line number, cells as read): the part of reading that must go in file
        order; RowLayout.source_row does the rest, in any process."""
        reader = self._reader
        blank_before_header = self._blank_lines_before_header
        line_after = reader.line_num + blank_before_header
        if self._first_row is not None:
            line_after -= 1
            reader = chain((self._first_row,), reader)
        csv_reader = self._reader
        # _csv_rows written out here: this loop runs once per row in the one process that reads the file,
        # which must keep up with every worker checking rows, and a generator more costs a tenth of that.
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise _csv_error(csv_reader.line_num + blank_before_header, exc) from None
            line = line_after + 1
            line_after = csv_reader.line_num + blank_before_header
            # Blank when every cell is: joined, they are only whitespace (or nothing).
            if "".join(cells).strip():
                yield line, cells

    @property
    def bytes_read(self) -> int:
        """How far into the file the reading is (the io module reads ahead: progress only)."""
        if self._wrapped is not None:
            return min(self.bytes_total or 0, self._binary.tell() - self._start) or self._bytes_read
        return self._bytes_read

    def _decoded_lines(self) -> Iterator[str]:
        if self.codec.startswith("utf-16"):
            return self._utf16_lines()
        if self._start is not None:
            # _detect_encoding decoded the whole file, checking line lengths and NUL bytes: nothing is left to
            # check line by line, so the lines come from the io module at C speed. newline="" ends a line
            # at a lone carriage return too (old Mac exports), as the csv module needs, and keeps the endings.
            codec = "utf-8-sig" if self.codec == "utf-8" else self.codec
            self._wrapped = _CallersFileText(self._binary, encoding=codec, newline="")
            return self._wrapped
        return self._checked_lines()

    def _checked_lines(self) -> Iterator[str]:
        # A stream that cannot seek back was not checked by _detect_encoding: each line is, here (and the csv
        # module's field limit and CONTACT_IMPORT_MAX_COLUMNS still bound what a line can become).
        codec = "utf-8" if self.codec == "utf-8-sig" else self.codec
        first = True
        for number, raw in enumerate(self._binary, 1):
            self._bytes_read += len(raw)
            if b"\x00" in raw:
                raise _nul_error(number)
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise _encoding_error(number, raw[exc.start]) from None
            if first:
                text = text.removeprefix("\ufeff")
                first = False
            # A lone carriage return ends a line too (old Mac exports); the csv module refuses one unquoted.
            # Django's File splits lines at a lone CR already: the empty piece after it is no line.
            yield from (piece for piece in _LONE_CR.split(text) if piece) if "\r" in text else (text,)

    def _utf16_lines(self) -> Iterator[str]:
        """UTF-16 lines: a newline is two bytes there, so the file is decoded as text, not split as bytes."""
        text = io.TextIOWrapper(self._binary, encoding=self.codec, newline="")
        number = 0
        try:
            while line := text.readline(MAX_LINE_BYTES // 2):
                number += 1
                if number == 1:
                    line = line.removeprefix("\ufeff")
                if "\x00" in line:
                    raise _nul_error(number)
                if len(line) == MAX_LINE_BYTES // 2 and not line.endswith(("\n", "\r")):
                    raise _long_line_error(number)
                # Progress only: the wrapper reads ahead, so this is where the reading is, not this line's end.
                self._bytes_read = min(self.bytes_total or 0, self._binary.tell()) or self._bytes_read
                yield line
            self._bytes_read = self.bytes_total or self._bytes_read
        finally:
            # The caller owns the file: the wrapper must not close it when it goes (unless it is closed already).
            with suppress(ValueError):
                text.detach()

    def _first_non_blank_line(self) -> str | None:
        self._blank_lines_before_header = 0
        for text in self._lines:
            if text.strip():
                return text
            self._blank_lines_before_header += 1
        return None


@dataclass(frozen=True, slots=True)
class RowLayout:
    """The column indexes of a file's data rows, as ContactCsv understood its header and mapping."""

    width: int
    delimiter: str
    phone_index: int
    first_name_index: int | None
    last_name_index: int | None
    name_index: int | None
    timezone_index: int | None
    tags_index: int | None
    attributes: tuple[tuple[str, int], ...]  # (attribute name, column index)

    def source_row(self, line: int, cells: list[str]) -> SourceRow:
        """A data row's cells, mapped to what they mean (short rows padded, extra cells reported)."""
        width = self.width
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        first_name_index, last_name_index = self.first_name_index, self.last_name_index
        row = SourceRow(
            line=line,
            phone=cells[self.phone_index].strip(),
            first_name="" if first_name_index is None else cells[first_name_index].strip(),
            last_name="" if last_name_index is None else cells[last_name_index].strip(),
            timezone="" if self.timezone_index is None else cells[self.timezone_index].strip(),
            attributes={name: value for name, index in self.attributes if (value := cells[index].strip())},
            tags="" if self.tags_index is None else cells[self.tags_index].strip(),
        )
        if self.name_index is not None:
            first, _, rest = cells[self.name_index].strip().partition(" ")
            row.first_name, row.last_name = row.first_name or first, row.last_name or rest.strip()
        if len(cells) > width and (extra := [c for c in cells[width:] if c.strip()]):
            row.problem = RowError(
                line,
                "",
                shortened(self.delimiter.join(extra)),
                f"{len(cells):,} cells but the header has {width}: is a value holding a "
                f"{self.delimiter!r} missing its quotes?",
            )
        return row


def _csv_rows(reader, next_line) -> Iterator[list[str]]:
    """The reader's rows; what the csv module cannot parse becomes an ApplicationError naming the line."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _csv_error(next_line(), exc) from None
        yield cells


def _csv_error(line: int, exc: csv.Error) -> ApplicationError:
    return ApplicationError(f"line {line} cannot be read as CSV ({exc}): is a quote left open?", field="file")


class _CallersFileText(io.TextIOWrapper):
    """A binary file read as text that leaves the file open when it goes: the file is its caller's."""

    def close(self) -> None:
        pass


def _encoding_error(line: int, byte: int, codec: str = "utf-8") -> ApplicationError:
    if codec == "cp1252":
        return ApplicationError(
            f"line {line} is neither UTF-8 nor Windows-1252 text (byte 0x{byte:02X} is no character in either); "
            "save the file as 'CSV UTF-8' and import it again",
            field="file",
        )
    return ApplicationError(
        f"line {line} is not UTF-8 text (byte 0x{byte:02X}); save the file as 'CSV UTF-8' and import it again",
        field="file",
    )


def _mixed_encoding_error(line: int, byte: int) -> ApplicationError:
    return ApplicationError(
        f"line {line} is not UTF-8 text (byte 0x{byte:02X}), though earlier lines are: the file mixes encodings; "
        "save it as 'CSV UTF-8' and import it again",
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


def _detect_encoding(binary: BinaryIO) -> str:
    """The codec the file is written in, found by decoding the whole file once before anything is imported,
    so a file in no encoding we read (or one holding NUL bytes, which no text field may store) writes nothing."""
    try:
        start = binary.tell()
    except (OSError, AttributeError):
        return "utf-8"  # not seekable: the line-by-line decoding still names the line
    head = binary.read(_SNIFF_BYTES)
    binary.seek(start)
    codec = None
    if head.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
    elif (utf16 := _utf16_without_bom(head)) is not None:
        codec = utf16
    if codec is not None and codec != "utf-8-sig":
        _check_utf16(binary, codec)
        return codec
    try:
        _check_text(binary, "utf-8")
    except _NotUtf8 as exc:
        if exc.after_multibyte:
            raise _mixed_encoding_error(exc.line, exc.byte) from None
        _check_text(binary, "cp1252")
        return "cp1252"
    return codec or "utf-8"


_SNIFF_BYTES = 4096


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 written without a BOM (some exports of Excel's "Unicode Text"): a file of mostly ASCII has a
    zero in every other byte, which no UTF-8 or Windows-1252 text has."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    high_zero_le = sum(1 for i in range(pairs) if head[2 * i + 1] == 0 and head[2 * i] != 0)
    high_zero_be = sum(1 for i in range(pairs) if head[2 * i] == 0 and head[2 * i + 1] != 0)
    if high_zero_le >= 0.6 * pairs:
        return "utf-16-le"
    if high_zero_be >= 0.6 * pairs:
        return "utf-16-be"
    return None


def _check_utf16(binary: BinaryIO, codec: str) -> None:
    start = binary.tell()
    decoder = codecs.getincrementaldecoder(codec)()
    lines_before = 0
    try:
        while chunk := binary.read(_CHECK_CHUNK):
            lines_before += decoder.decode(chunk).count("\n")
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ApplicationError(
            f"line {lines_before + 1} is not {ENCODING_NAMES[codec]} text; save the file as 'CSV UTF-8' and import "
            "it again",
            field="file",
        ) from None
    binary.seek(start)


class _NotUtf8(Exception):
    def __init__(self, line: int, byte: int, after_multibyte: bool):
        super().__init__(line)
        self.line, self.byte, self.after_multibyte = line, byte, after_multibyte


def _check_text(binary: BinaryIO, codec: str) -> None:
    """Decode the file in `codec` chunk by chunk, checking line lengths and NUL bytes on the way."""
    start = binary.tell()
    decoder = codecs.getincrementaldecoder(codec)()
    multibyte = False  # a UTF-8 sequence of several bytes seen: the file is UTF-8, not Windows-1252
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
            if codec == "utf-8":
                before = multibyte or any(byte >= 0x80 for byte in exc.object[: exc.start])
                binary.seek(start)
                raise _NotUtf8(line, exc.object[exc.start], before) from None
            raise _encoding_error(line, exc.object[exc.start], codec) from None
        multibyte = multibyte or (codec == "utf-8" and any(byte >= 0x80 for byte in chunk))
        lines_before += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        binary.seek(start)
        if codec == "utf-8":
            raise _NotUtf8(lines_before + 1, exc.object[exc.start], multibyte) from None
        raise _encoding_error(lines_before + 1, exc.object[exc.start], codec) from None
    binary.seek(start)
