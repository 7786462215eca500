"""Plivo's SMS error codes in words for staff. Here rather than in `sends` because the campaign pages (in
`campaigns`, which must not import `sends`) name the failures of a campaign by the same words."""

# Plivo's SMS error codes (messaging troubleshooting guide) and what they mean for staff.
PLIVO_ERROR_CODES: dict[str, str] = {
    "10": "Invalid message: rejected by a downstream carrier",
    "20": "Network error at the carrier (temporary)",
    "30": "Spam detected: blocked by a carrier's filter",
    "40": "Invalid source number: wrong format, not SMS-enabled or not on this Plivo account",
    "50": "Invalid destination number",
    "60": "Loop detected",
    "70": "Destination permanently unavailable",
    "80": "Destination temporarily unavailable",
    "90": "No route available to the destination",
    "100": "Prohibited by the carrier",
    "110": "Message too long",
    "200": "Destination number opted out (at the carrier)",
    "300": "Failed to dispatch the message",
    "420": "Message expired before it could be delivered",
    "450": "Destination country barred (geo permissions)",
    "900": "Insufficient credit on the Plivo account",
    "950": "Daily messaging limit reached",
    "1000": "Unknown error",
}
NO_ERROR_CODES = frozenset({"", "0", "000"})


def error_code_meaning(code: str) -> str:
    """What a Plivo error code means, in words for staff ("" when there is no error)."""
    if code in NO_ERROR_CODES:
        return ""
    return PLIVO_ERROR_CODES.get(code, f"Plivo error {code}")
