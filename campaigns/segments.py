"""How many SMS segments a text costs, in which encoding, and which characters force UCS-2.

A message that fits the GSM 03.38 alphabet is sent as GSM-7: 160 septets in one segment, 153 per
segment once split (the rest is the concatenation header). Characters of the extension table take two
septets (an escape and the character). One character outside the alphabet switches the whole message
to UCS-2: 70 UTF-16 code units in one segment, 67 per segment once split. A carrier never splits an
escape sequence or a surrogate pair (an emoji) across two segments, so counting is done by packing.
"""

import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}

# The longest `text` Plivo's Message API accepts: "Messages containing only GSM03.38 7 bit characters have a
# maximum limit of 1600 characters ... containing one or more UCS-2 16 bit unicode characters have a maximum
# limit of 737 characters" (Plivo docs, Send a Message, parameter `text`:
# https://www.plivo.com/docs/sms/api/message/send-a-message/ ; also "Encoding and Concatenation"). A longer
# text is refused for every recipient. 737 is 11 UCS-2 segments of 67 units, so a UCS-2 text is measured in
# UTF-16 units (an emoji counts twice), the stricter reading; a GSM-7 text in characters, as documented.
PLIVO_MAX_CHARACTERS = {GSM7: 1600, UCS2: 737}


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # as a person counts them
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # capacity of one segment in units, given the split
    ucs2_characters: tuple[str, ...]  # the distinct characters that force UCS-2, in order of appearance
    segments_if_gsm7: int  # what it would cost with those characters replaced

    @property
    def forces_ucs2_note(self) -> str:
        """E.g. "’ forces UCS-2: 3 segments instead of 1", or "" for a GSM-7 text."""
        if not self.ucs2_characters:
            return ""
        chars = " ".join(_visible(ch) for ch in self.ucs2_characters)
        verb = "forces" if len(self.ucs2_characters) == 1 else "force"
        plural = "s" if self.segments != 1 else ""
        if self.segments == self.segments_if_gsm7:
            return f"{chars} {verb} UCS-2 ({self.segments} segment{plural} either way)"
        return f"{chars} {verb} UCS-2: {self.segments} segment{plural} instead of {self.segments_if_gsm7}"


def _visible(ch: str) -> str:
    """The character itself, or its code and name when a person could not see it (a no-break space)."""
    if ch.isprintable() and not ch.isspace():
        return ch
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"


def _unit_sizes(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(sizes: list[int], encoding: str) -> tuple[int, int]:
    """(segments, per-segment capacity) for characters of these unit sizes."""
    single, multi = _LIMITS[encoding]
    total = sum(sizes)
    if total <= single:
        return (1 if total else 0), single
    segments, used = 1, 0
    for size in sizes:
        if used + size > multi:  # never split one character's units across two segments
            segments, used = segments + 1, 0
        used += size
    return segments, multi


def segment_info(text: str) -> SegmentInfo:
    """Encoding and segment count of `text` exactly as a carrier would split it."""
    offending = tuple(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION))
    encoding = UCS2 if offending else GSM7
    sizes = _unit_sizes(text, encoding)
    segments, per_segment = _pack(sizes, encoding)
    if offending:
        gsm_sizes = _unit_sizes("".join("?" if ch in offending else ch for ch in text), GSM7)
        segments_if_gsm7 = _pack(gsm_sizes, GSM7)[0]
    else:
        segments_if_gsm7 = segments
    return SegmentInfo(
        encoding=encoding,
        characters=len(text),
        units=sum(sizes),
        segments=segments,
        per_segment=per_segment,
        ucs2_characters=offending,
        segments_if_gsm7=segments_if_gsm7,
    )


def plivo_length(info: SegmentInfo) -> tuple[int, int]:
    """(the text's length as Plivo counts it, the most Plivo accepts) for a text of this encoding."""
    return (info.units if info.encoding == UCS2 else info.characters), PLIVO_MAX_CHARACTERS[info.encoding]


def message_length_problem(info: SegmentInfo) -> str:
    """Why a text of this size may not be sent, for staff ("" when it may): longer than Plivo accepts, or more
    segments than SMS_MAX_SEGMENTS."""
    length, limit = plivo_length(info)
    if length > limit:
        return f"{length:,} characters in {info.encoding}, and Plivo refuses a text longer than {limit:,}"
    ceiling = settings.SMS_MAX_SEGMENTS
    if info.segments > ceiling:
        return (
            f"{info.segments} segments ({info.characters:,} characters in {info.encoding}), more than the "
            f"{ceiling} a message may cost (SMS_MAX_SEGMENTS)"
        )
    return ""


def price_per_segment(country: str) -> Decimal:
    """Estimated price of one segment to a country (ISO alpha-2), from SMS_PRICE_PER_SEGMENT."""
    prices = settings.SMS_PRICE_PER_SEGMENT
    return prices.get((country or "").upper(), prices.get("*", Decimal("0")))


def estimate_cost(*, segments: int, country: str, recipients: int = 1) -> Decimal:
    return price_per_segment(country) * segments * recipients


def invisible_character_labels() -> dict[int, str]:
    """How `forces_ucs2_note` names each assigned character a person cannot see, by code point.

    The admin's live counter (campaigns/static/campaigns/segment-counter.js) carries this table so that it
    names such characters exactly as the server does; campaigns/tests/test_segment_counter_js.py keeps the two
    in step and prints the table to paste when Python's Unicode data changes.
    """
    labels = {}
    for code in range(0x110000):
        ch = chr(code)
        if unicodedata.category(ch) in ("Cn", "Co", "Cs"):
            continue  # unassigned, private or surrogate: no name, the counter says "control character"
        if _visible(ch) != ch:
            labels[code] = _visible(ch)
    return labels
