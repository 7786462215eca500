"""The admin's live counter (segment-counter.js, run here with node) and segment_info() agree on every case."""

import json
import random
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from campaigns.segments import GSM7_BASIC, GSM7_EXTENSION, invisible_character_labels, segment_info

COUNTER_JS = Path(__file__).resolve().parents[1] / "static" / "campaigns" / "segment-counter.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the JS counter cannot be run")

RUNNER = """
const counter = require(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify({
  results: cases.map(counter.segmentInfo),
  basic: Array.from(counter.GSM7_BASIC).join(""),
  extension: Array.from(counter.GSM7_EXTENSION).join(""),
  invisible: counter.INVISIBLE,
}));
"""

HAND_PICKED = [
    "",
    "Hello there",
    "a" * 160,
    "a" * 161,
    "a" * 306,
    "a" * 307,
    "€" * 80,
    "€" * 81,
    "a" * 152 + "€" + "a" * 152,
    "a" * 159 + "{",
    "We’re open today! " + "x" * 60,
    "a" * 70 + "’",
    "a" * 69 + "’",
    "🎉" * 35,
    "🎉" * 36,
    "a" * 66 + "🎉",
    "ж" * 1600,
    "Sale\u00a0today",  # a no-break space, named because nobody can see it
    "tab\there",
    "zero\u200bwidth and \u200d joiner",
    "“Quotes” and ‘apostrophes’ – dashes … ",
    "Hi {{ first_name }}, 20% off [today] ~ only. Reply STOP to opt out",
    "👍🏽 skin tone, 👨‍👩‍👧 family, 🇫🇷 flag",
    "\U000f0000 private use, \ufeff bom",
]

# Characters around every rule: basic, extension, UCS-2 one unit, UCS-2 two units, invisible ones.
ALPHABET = "aZ9 @£\n€{}[]^~|\\’“éжñü🎉😀\u00a0\u200b\t"


def random_cases(count: int) -> list[str]:
    rng = random.Random(8)
    return [
        "".join(rng.choice(ALPHABET) for _ in range(rng.choice([1, 69, 70, 71, 153, 160, 161, 400])))
        for _ in range(count)
    ]


def run_counter(cases: list[str]) -> dict:
    completed = subprocess.run(
        [NODE, "-e", RUNNER, str(COUNTER_JS)], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)


def expected(text: str) -> dict:
    info = segment_info(text)
    return {**asdict(info), "ucs2_characters": list(info.ucs2_characters), "forces_ucs2_note": info.forces_ucs2_note}


def test_js_counter_gives_the_same_count_encoding_and_note_as_python():
    cases = HAND_PICKED + random_cases(300)
    results = run_counter(cases)["results"]
    mismatches = [(text, js, expected(text)) for text, js in zip(cases, results, strict=True) if js != expected(text)]
    assert not mismatches, f"{len(mismatches)} cases differ; first: {mismatches[0]}"


def test_js_counter_uses_the_same_gsm_alphabet_and_names_of_invisible_characters():
    output = run_counter([])
    assert set(output["basic"]) == GSM7_BASIC
    assert set(output["extension"]) == GSM7_EXTENSION
    python_labels = {str(code): label for code, label in invisible_character_labels().items()}
    fresh = ",\n".join(f"    {code}: {json.dumps(label)}" for code, label in python_labels.items())
    assert output["invisible"] == python_labels, f"regenerate the table in {COUNTER_JS.name}:\n{fresh}"


def test_counter_notices_a_change_that_breaks_the_agreement(tmp_path):
    # The comparison above can fail: a counter that forgets escape pairs count double disagrees.
    broken = tmp_path / "segment-counter.js"
    broken.write_text(COUNTER_JS.read_text().replace("GSM7_EXTENSION.has(ch) ? 2 : 1", "1"))
    completed = subprocess.run(
        [NODE, "-e", RUNNER, str(broken)], input=json.dumps(["€" * 81]), capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout)["results"][0] != expected("€" * 81)


def test_js_counter_warns_once_the_text_costs_more_than_the_segment_ceiling():
    script = (
        "const c = require(process.argv[1]);"
        "const w = (text, ceiling) => c.ceilingWarning(c.segmentInfo(text), ceiling);"
        "const cases = [w('a'.repeat(306), 2), w('a'.repeat(307), 2), w('a'.repeat(5000), NaN)];"
        "process.stdout.write(JSON.stringify(cases));"
    )
    completed = subprocess.run([NODE, "-e", script, str(COUNTER_JS)], capture_output=True, text=True, check=True)
    at_ceiling, over, no_ceiling = json.loads(completed.stdout)
    assert at_ceiling == "" and no_ceiling == ""
    assert over.startswith("More than 2 segments, the most a message may cost (SMS_MAX_SEGMENTS)")
