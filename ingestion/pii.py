"""The PII scrubber: one set of patterns for Python callers and for the loader's SQL.

Defence in depth: producers should never send PII, but every string field is scrubbed before it
reaches the lake anyway. The same patterns run in Python (SDK, adapters) and, translated to
DuckDB's RE2 `regexp_replace`, inside the loader.

Card numbers are replaced only when the digits pass the Luhn check, so long numeric ids survive.
The SQL path runs the same Luhn check: it extracts the card-shaped candidates, keeps those whose
digits pass, and replaces them one by one (a regex replacement cannot call a function per match).
"""

from __future__ import annotations

import re

EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# US SSN with dashes; never matches inside longer digit runs.
SSN = r"\b\d{3}-\d{2}-\d{4}\b"
# Phone numbers written the way people write them: optional +country, separators between groups.
PHONE = r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{3}\)|\b\d{3})[ .\-]\d{3}[ .\-]\d{4}\b"
CARD_CANDIDATE = r"\b(?:\d[ \-]?){12,18}\d\b"
CARD_WITH_SEPARATORS = r"\b\d{4}[ \-]\d{4}[ \-]\d{4}[ \-]\d{1,7}\b"

REDACTED = {"email": "[email]", "ssn": "[ssn]", "phone": "[phone]", "card": "[card]"}

_EMAIL_RE = re.compile(EMAIL)
_SSN_RE = re.compile(SSN)
_PHONE_RE = re.compile(PHONE)
_CARD_RE = re.compile(CARD_CANDIDATE)
# A cheap necessary condition for any pattern above: e-mails need "@"; SSNs and phone numbers have three
# digits followed by a separator; card numbers have 13 digits in a row or a separator between two digits.
# Ids, model names and hashes rarely pass it, so most fields are scrubbed without running the four
# patterns (tests check that it never changes a result; scrub_sql uses the same condition).
_MAYBE_PII_RE = re.compile(r"@|\d{3}[ .\-]|\d[ \-]\d|\d{13}")
# The same conditions one pattern at a time, so each pattern runs only on text that could match it.
_MAYBE_SSN_OR_PHONE_RE = re.compile(r"\d{3}[ .\-]")
_MAYBE_CARD_RE = re.compile(r"\d[ \-]\d|\d{13}")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum that every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_sub(match: re.Match[str]) -> str:
    digits = re.sub(r"[ \-]", "", match.group(0))
    return REDACTED["card"] if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def scrub(text: str) -> str:
    """Replace e-mails, SSNs, card numbers (Luhn-checked) and phone numbers with placeholders."""
    if not text or not _MAYBE_PII_RE.search(text):
        return text  # the common case: ids and names with nothing to scrub
    if "@" in text:
        text = _EMAIL_RE.sub(REDACTED["email"], text)
    # Placeholders hold no digits, so a check made before a replacement still holds after it.
    ssn_or_phone = _MAYBE_SSN_OR_PHONE_RE.search(text) is not None
    if ssn_or_phone:
        text = _SSN_RE.sub(REDACTED["ssn"], text)
    if _MAYBE_CARD_RE.search(text):
        text = _CARD_RE.sub(_card_sub, text)
    return _PHONE_RE.sub(REDACTED["phone"], text) if ssn_or_phone else text


def _luhn_sql(candidate: str) -> str:
    """DuckDB boolean: the digits of the card-shaped string expression `candidate` pass Luhn (13-19 digits)."""
    digits = f"regexp_replace({candidate}, '[ \\-]', '', 'g')"
    # From the right, every second digit is doubled (minus 9 when that exceeds 9); the sum ends in 0.
    d = "cast(ch as integer)"
    doubled = f"(case when i % 2 = 0 then (case when 2 * {d} > 9 then 2 * {d} - 9 else 2 * {d} end) else {d} end)"
    total = f"list_sum(list_transform(string_split(reverse({digits}), ''), lambda ch, i: {doubled}))"
    return f"(length({digits}) between 13 and 19 and {total} % 10 = 0)"


def scrub_sql(expr: str) -> str:
    """A DuckDB expression that scrubs the string expression `expr` (same patterns and Luhn check, RE2)."""
    out = expr
    for pattern, label in ((EMAIL, "email"), (SSN, "ssn")):
        out = f"regexp_replace({out}, '{pattern}', '{REDACTED[label]}', 'g')"
    cards = f"list_filter(regexp_extract_all({out}, '{CARD_CANDIDATE}'), lambda m: {_luhn_sql('m')})"
    out = f"list_reduce({cards}, lambda acc, m: replace(acc, m, '{REDACTED['card']}'), {out})"
    out = f"regexp_replace({out}, '{PHONE}', '{REDACTED['phone']}', 'g')"
    # Most values cannot hold PII (the same necessary condition as the Python fast path): skip the work.
    return f"(case when regexp_matches({expr}, '{_MAYBE_PII_RE.pattern}') then {out} else {expr} end)"
