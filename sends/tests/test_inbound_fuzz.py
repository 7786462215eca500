"""Property-based fuzzing of the inbound keyword parser (sends.services.inbound.inbound_text_action).

Whatever a handset sends, the parser answers one of the four actions and never raises; and each keyword
(STOP, START, HELP and their synonyms) and each informal opt-out keeps its meaning however it is written:
any case, any whitespace (Unicode's included) and punctuation around it, invisible characters inside it,
accents, full-width letters, Cyrillic or Greek lookalikes. (ASCII case and punctuation: test_inbound.py.)
Bounded and derandomized: the same cases every run.
"""

import unicodedata

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sends.models import InboundMessage
from sends.services.inbound import inbound_text_action, text_normalize
from sends.tests.plivo_callbacks import INBOUND_PATH, plivo_signing, post_callback  # noqa: F401 (a fixture)

Action = InboundMessage.Action
FUZZ = settings(max_examples=200, deadline=None, derandomize=True)

KEYWORDS = [
    *((word, Action.OPT_OUT) for word in django_settings.SMS_OPT_OUT_KEYWORDS),
    *((word, Action.OPT_IN) for word in django_settings.SMS_OPT_IN_KEYWORDS),
    *((word, Action.HELP) for word in django_settings.SMS_HELP_KEYWORDS),
]
SPACES = ["\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "  "]
PUNCTUATION = [*".!?,;:…¡¿()[]\"'“”«»-–—*~", "！", "。", "🙏", "😡"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff"]
LOOKALIKES = {  # Latin letter -> the same glyph from Cyrillic or Greek (upper and lower case)
    "A": "АΑ", "B": "ВΒ", "C": "С", "E": "ЕΕ", "H": "НΗ", "I": "ІΙ", "J": "Ј", "K": "КΚ", "M": "МΜ",
    "N": "Ν", "O": "ОΟ", "P": "РΡ", "S": "Ѕ", "T": "ТΤ", "X": "ХΧ", "Y": "УΥ", "Z": "Ζ",
    "a": "а", "c": "с", "e": "е", "i": "і", "j": "ј", "o": "оο", "p": "р", "s": "ѕ", "x": "х", "y": "у",
}  # fmt: skip
ACCENTS = ["\u0301", "\u0300", "\u0308", "\u0302"]  # combining acute, grave, diaeresis, circumflex


@st.composite
def written_as_people_do(draw, word: str) -> str:
    """`word` as a handset may send it: each letter in any case, maybe full-width, a lookalike, accented or
    followed by an invisible character; words apart by any space; punctuation and space around it all."""
    letters = []
    for ch in word:
        if ch == " ":
            letters.append(draw(st.sampled_from([" ", *SPACES])))
            continue
        ch = ch.upper() if draw(st.booleans()) else ch.lower()
        form = draw(st.sampled_from(["plain", "full-width", "lookalike", "accented", "invisible after"]))
        if form == "full-width" and ch.isascii() and ch.isalnum():
            ch = chr(ord(ch) + 0xFEE0)
        elif form == "lookalike" and ch in LOOKALIKES:
            ch = draw(st.sampled_from(LOOKALIKES[ch]))
        elif form == "accented" and ch.isalpha():
            ch += draw(st.sampled_from(ACCENTS))
        elif form == "invisible after":
            ch += draw(st.sampled_from(INVISIBLE))
        letters.append(ch)
    around = st.lists(st.sampled_from([" ", *SPACES, *PUNCTUATION]), max_size=4).map("".join)
    return draw(around) + "".join(letters) + draw(around)


@FUZZ
@given(text=st.text(max_size=200), intent=st.one_of(st.just(""), st.text(max_size=12)))
def test_any_text_and_intent_get_one_of_the_four_actions_and_never_raise(text, intent):
    assert inbound_text_action(text, intent=intent) in Action.values


@FUZZ
@given(text=st.text(max_size=80))
def test_normalizing_any_unicode_is_stable(text):
    once = text_normalize(text)
    assert text_normalize(once) == once
    assert inbound_text_action(once) == inbound_text_action(text)


@FUZZ
@given(data=st.data(), keyword=st.sampled_from(KEYWORDS))
def test_every_keyword_keeps_its_meaning_however_it_is_written(data, keyword):
    word, action = keyword
    text = data.draw(written_as_people_do(word))
    assert inbound_text_action(text) == action, f"{text!r} ({unicodedata.normalize('NFKD', text)!a})"


@FUZZ
@given(
    data=st.data(),
    phrase=st.sampled_from(django_settings.SMS_OPT_OUT_PHRASES),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_an_informal_opt_out_anywhere_in_any_message_is_an_opt_out(data, phrase, before, after):
    text = f"{before} {data.draw(written_as_people_do(phrase))} {after}"
    assert inbound_text_action(text) == Action.OPT_OUT, repr(text)


@FUZZ
@given(text=st.text(max_size=60), word=st.sampled_from([w for w, _ in KEYWORDS]))
def test_plivos_opt_out_intent_wins_over_any_text(text, word):
    assert inbound_text_action(text, intent="OPTOUT ") == Action.OPT_OUT
    assert inbound_text_action(word, intent="optout") == Action.OPT_OUT


# --- The whole webhook: any signed fields are answered 200 or 400, never a server error -----------------

_field = st.one_of(st.text(max_size=40), st.sampled_from(["", "14155550123", "+14155550124", "415-555-0125"]))


@pytest.mark.django_db
@pytest.mark.usefixtures("plivo_signing")
@settings(FUZZ, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sender=_field, to=_field, text=st.text(max_size=160), intent=_field, message_uuid=_field)
def test_any_signed_inbound_text_is_answered_200_or_400_never_a_server_error(
    client, sender, to, text, intent, message_uuid
):
    fields = {"From": sender, "To": to, "Text": text, "MessageIntent": intent, "MessageUUID": message_uuid}
    with transaction.atomic():  # each example from the same empty database
        response = post_callback(client, INBOUND_PATH, fields)
        assert response.status_code in (200, 400), response.content
        if response.status_code == 400:
            assert set(response.json()) == {"error", "field"}  # says which field is wrong
        transaction.set_rollback(True)


@pytest.mark.django_db
@pytest.mark.usefixtures("plivo_signing")
def test_a_nul_in_a_signed_inbound_text_is_dropped_and_the_stop_honoured(client):
    fields = {"From": "14155550123", "To": "14155550100", "Text": "ST\x00OP", "MessageUUID": "nul-1"}
    assert post_callback(client, INBOUND_PATH, fields).status_code == 200
    message = InboundMessage.objects.get()
    assert (message.text, message.action) == ("STOP", Action.OPT_OUT)
