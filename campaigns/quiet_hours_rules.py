"""The default local quiet-hours rules, with nothing else imported: the drills and the benchmarks read them
to build the environment of the stack they start, before any Django setting may be read (importing the
project's Django code would load the settings of the shell that started them, not those of their stack)."""

import json

# Local windows stricter than the federal baseline, by ISO 3166-1 country ("US") or ISO 3166-2 subdivision
# ("US-FL", the state of a US number's area code). Only rules whose source could be cited are listed; a
# texting programme's counsel may know more, and QUIET_HOURS_RULES adds them.
DEFAULT_QUIET_HOURS_RULES: dict[str, tuple[str, str]] = {
    # TCPA rules, 47 CFR 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. local time at
    # the called party's location (the FCC treats a text message as a call).
    "US": ("08:00", "21:00"),
    # Florida Telemarketing Act, Fla. Stat. 501.616(6)(a), as amended by SB 1120 (2021): no commercial
    # telephone solicitation before 8 a.m. or after 8 p.m. local time in the called person's time zone; the
    # Florida Telephone Solicitation Act (501.059) counts text messages as telephonic sales calls.
    "US-FL": ("08:00", "20:00"),
    # Oklahoma Telephone Solicitation Act of 2022 (HB 3168, 15 O.S. 775C.1 et seq., in force 2022-11-01):
    # commercial telephonic sales calls, text messages included, only from 8 a.m. to 8 p.m. local time.
    "US-OK": ("08:00", "20:00"),
    # Maryland Stop the Spam Calls Act of 2023 (SB 90, Md. Code Com. Law 14-4501 et seq., in force
    # 2024-01-01): telephone solicitations, texts included, only from 8 a.m. to 8 p.m. in the called party's
    # time zone.
    "US-MD": ("08:00", "20:00"),
    # Washington, RCW 19.158.040(2): a commercial telephone solicitor may not place calls received before
    # 8:00 a.m. or after 8:00 p.m. at the recipient's local time.
    "US-WA": ("08:00", "20:00"),
}

# QUIET_HOURS_RULES (as the environment gives it) lifting every default above: drills and benchmarks, whose
# real clocks run at any hour, set it beside a QUIET_HOURS_START-END of the whole day.
WITHOUT_LOCAL_RULES = json.dumps(dict.fromkeys(DEFAULT_QUIET_HOURS_RULES))
