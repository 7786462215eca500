"""CSV for people: cells a spreadsheet shows, never runs.

A cell typed by a person (a contact's name, a consent source, an audit note) can be a formula, and a
spreadsheet opening the file runs it: `=HYPERLINK("http://...")` sends a click elsewhere, `=cmd|...`
has run programs. Every CSV the product writes goes through `spreadsheet_safe_writer`. In the shared
kernel so that any app, the lowest included, can use it.
"""

import csv
import io
import re
from typing import TextIO

# Excel, LibreOffice and Google Sheets read a cell starting with one of these as a formula (a tab or a
# carriage return is dropped and what follows is read as one).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[1-9]\d{1,14}")


def spreadsheet_safe_cell(value):
    """`value` as a CSV cell that a spreadsheet shows as text and never evaluates.

    Text starting with a formula trigger gets a leading `'`, which spreadsheets read as "this is text" and
    do not display. A phone number in E.164 (`+14155550123`) is left as it is: it is written by the
    product, not typed by a person, it cannot call anything, and it must stay a valid number in the file.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _E164.fullmatch(value):
        return "'" + value
    return value


class SpreadsheetSafeWriter:
    """csv.writer whose every cell goes through spreadsheet_safe_cell."""

    def __init__(self, file: TextIO, *, lineterminator: str = "\r\n", **fmtparams):
        # The csv module quotes a cell holding a line break only if the break is in its lineterminator: with
        # "\n", a name holding a lone "\r" was written bare and split the row in two for every reader. Rows
        # are therefore formatted with "\r\n" and their ending swapped for the one asked for.
        self._file = file
        self._ending = lineterminator
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n", **fmtparams)

    def writerow(self, row):
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow([spreadsheet_safe_cell(cell) for cell in row])
        line = self._buffer.getvalue()
        return self._file.write(line if self._ending == "\r\n" else line[:-2] + self._ending)

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)


def spreadsheet_safe_writer(file: TextIO, **fmtparams) -> SpreadsheetSafeWriter:
    """The writer for every CSV the product hands to people (exports, error reports)."""
    return SpreadsheetSafeWriter(file, **fmtparams)
