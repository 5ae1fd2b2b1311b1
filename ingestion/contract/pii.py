"""The PII scrubber: one set of detectors for Python callers and for the loader's SQL.

Defence in depth: producers should never send PII, but every string field is checked before it reaches the
lake anyway. The same detectors run in Python (SDK, reference adapters, tests) and, as DuckDB SQL (RE2
`regexp_replace` / `regexp_extract_all`), inside the loader; `tests/builders/pii_cases.py` is one table of texts
with the expected result that both engines must produce, false positives included.

Two treatments, by field:

- Free text (model names, error types, versions, lines kept in quarantine, ...): `scrub` replaces each
  e-mail address, phone number, SSN or card number with a placeholder (`[email]`, `[phone]`, `[ssn]`,
  `[card]`).
- Identifiers (`ID_FIELDS`: event, session, user, trace, feedback and target ids): a placeholder would merge
  every id holding PII into one value (dedupe then quarantines them as conflicting duplicates, sessions merge),
  so an id that holds PII is replaced as a whole by a keyed hash of it (`pseudonym`): stable across loads, so
  joins and duplicate checks still work, and not reversible by hashing guessed addresses without the key
  (`load_key`, one per AIW_HOME). And an id is PII only when it holds a delimited PII form: an e-mail, a
  phone number written with `+` or separators, an SSN with separators, a card number in groups. A bare
  digit run is a numeric id there (one 16-19 digit id in ten passes Luhn), never a card or an SSN.

What is detected (docs/contract.md lists it with the false positives that are not):

- e-mail: ASCII or non-ASCII (IDN) local parts and domains; `@`, full-width `＠`, small `﹫` and
  percent-encoded `%40`; `.`, full-width `．` and ideographic `。` between domain labels; any of these
  written as JSON escapes (`\u0040`, `ex\u00e4mple`), as they appear in the text of a broken line.
- phone: `+` and a country code then 8+ digits in groups (E.164 `+14155550101`, `+44 20 7946 0958`,
  `+1 (415) 555-0101`); North American national formats `(415) 555-0101`, `415-555-0101`, `415.555.0101`;
  trunk-prefix national formats with 9+ digits (`020 7946 0958`, `07911 123456`, `01 23 45 67 89`), one
  kind of separator per number, so `05.01.2024 10:30` stays a date.
- SSN: `078-05-1120`, `078 05 1120`; in free text also `078051120` as a standalone 9-digit token that is a
  possible SSN (area not 000, 666 or 9xx; group not 00; serial not 0000) and not an order or reference
  number (not right after `#`, `-`, `.`, `/`, `+` or a letter).
- card: 13-19 digits, bare or in groups of 4 (Amex 4-6-5) separated by spaces, dashes or dots, that start
  like a payment card (2-series Mastercard 22-27, or 3-6) and pass the Luhn check. Epoch milliseconds and
  nanoseconds start with 1 and compact timestamps with 20, so neither is taken for a card.

How both engines apply the detectors (kept identical so they agree exactly): a cheap pre-filter skips text
that cannot hold any form (most ids, model names, hashes); e-mails, separated SSNs and North American
numbers are replaced by regular expression; the other detectors need a check a regular expression cannot
make (Luhn, digit counts, SSN ranges), so their candidates are extracted from that result, checked, and
each one that passes is replaced wherever it occurs, in the order found.

Why regular expressions and not the `phonenumbers` library: its matcher took about 85 us a string on phone
numbers alone where `scrub` takes about 16 us for all four kinds (20,000 mixed strings, in-process), and the
loader scrubs inside DuckDB, where it would have to run as a Python UDF, row by row.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingestion.sql import quote

REDACTED = {"email": "[email]", "ssn": "[ssn]", "phone": "[phone]", "card": "[card]"}

# The contract's identifier fields: PII there is replaced by a keyed hash of the whole value, never scrubbed.
ID_FIELDS = ("event_id", "session_id", "user_id", "trace_id", "feedback_id", "target_event_id")

# Every pattern is written for both engines: ASCII classes spelled out ([0-9], not \d, which is Unicode in
# Python), no look-around or back-references (RE2 has neither), and Python compiles with re.ASCII so that
# \b means what it means in RE2.
# A non-ASCII character, raw or as a JSON escape (lines kept in quarantine are JSON text as it arrived).
_NON_ASCII = r"(?:[^\x00-\x7F]|\\u[0-9A-Fa-f]{4})"
_AT_ESCAPED = r"\\u(?:0040|[Ff][Ff]20|[Ff][Ee]6[Bb])"
_AT = rf"(?:@|＠|﹫|%40|{_AT_ESCAPED})"
_DOT = r"(?:\.|．|。|\\u[Ff][Ff]0[Ee]|\\u3002)"
_LABEL = rf"(?:[A-Za-z0-9\-]|{_NON_ASCII})+"
_TLD = rf"(?:[A-Za-z]{{2,}}|xn--[A-Za-z0-9\-]+|{_NON_ASCII}{{2,}})"
EMAIL = rf"(?:[A-Za-z0-9._%+\-]|{_NON_ASCII})+{_AT}{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}{_TLD}"
SSN_SEPARATED = r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b|\b[0-9]{3} [0-9]{2} [0-9]{4}\b"
PHONE_NANP = r"(?:\+?1[ .\-]?)?(?:\([0-9]{3}\) ?|\b[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}\b"
# Candidates, checked before they are replaced. Group 2 is the candidate; group 1 the character before it,
# which must not make it part of a longer token.
PHONE_INTERNATIONAL = r"(^|[^0-9A-Za-z_+])(\+[1-9](?:[ \-]?\(?[0-9]{1,5}\)?){1,8})"
_TRUNK = r"\b0[0-9]{1,4}"
PHONE_NATIONAL_SPACED = (rf"()(\(0[0-9]{{1,4}}\) ?[0-9]{{2,8}}(?: [0-9]{{2,8}}){{0,3}}\b"
                         rf"|{_TRUNK} [0-9]{{2,8}}(?: [0-9]{{2,8}}){{0,3}}\b)")
PHONE_NATIONAL_DASHED = (rf"()({_TRUNK}-[0-9]{{2,8}}(?:-[0-9]{{2,8}}){{0,3}}\b"
                         rf"|{_TRUNK}\.[0-9]{{2,8}}(?:\.[0-9]{{2,8}}){{0,3}}\b)")
CARD_GROUPED = (r"()(\b[0-9]{4}[ .\-][0-9]{4}[ .\-][0-9]{4}[ .\-][0-9]{1,7}\b"
                r"|\b[0-9]{4}[ .\-][0-9]{6}[ .\-][0-9]{4,5}\b)")
_STANDALONE = r"(^|[^0-9A-Za-z_#.\-/+])"
CARD_BARE = rf"{_STANDALONE}([0-9]{{13,19}})\b"
SSN_BARE = rf"{_STANDALONE}([0-9]{{9}})\b"

# Necessary conditions of the detectors above, one search: text without any of them is returned unchanged.
# Kept narrow enough that the dates in model versions ("2024-08-06") and the ids, names and hashes that make
# up most fields do not pass, since the detectors cost far more than this search.
_TRUNK_NECESSARY = r"\(0[0-9]{1,4}\)|\b0[0-9]{1,4}[ .\-][0-9]{4}|\b0[0-9]{1,4}[ .\-][0-9]{2,8}[ .\-][0-9]{2}"
_GROUPS_NECESSARY = (r"[0-9]{3}[ \-][0-9]{2}[ \-][0-9]{4}|[0-9]{3}[ .\-][0-9]{3}[ .\-][0-9]{4}|\([0-9]{3}\)"
                     r"|[0-9]{4}[ .\-][0-9]{4}[ .\-][0-9]{4}|[0-9]{4}[ .\-][0-9]{6}")
PREFILTER = (rf"@|＠|﹫|%40|{_AT_ESCAPED}|\+[1-9]|{_STANDALONE}[0-9]{{9,19}}\b|{_GROUPS_NECESSARY}"
             rf"|{_TRUNK_NECESSARY}")
# The same for identifiers, whose detectors leave bare digit runs alone.
ID_PREFILTER = rf"@|＠|﹫|%40|{_AT_ESCAPED}|\+[1-9]|{_GROUPS_NECESSARY}|{_TRUNK_NECESSARY}"


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


def _digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


def _card_ok(candidate: str) -> bool:
    d = _digits(candidate)
    return 13 <= len(d) <= 19 and re.match(r"[3-6]|2[2-7]", d) is not None and luhn_valid(d)


def _ssn_ok(candidate: str) -> bool:
    area, group, serial = candidate[:3], candidate[3:5], candidate[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# The same checks as DuckDB lambdas over the candidate `m`.
def _digits_sql(m: str) -> str:
    return f"regexp_replace({m}, '[^0-9]', '', 'g')"


def _luhn_sql(digits: str) -> str:
    # From the right, every second digit is doubled (minus 9 when that exceeds 9); the sum ends in 0.
    d = "cast(ch as integer)"
    doubled = f"(case when i % 2 = 0 then (case when 2 * {d} > 9 then 2 * {d} - 9 else 2 * {d} end) else {d} end)"
    return f"(list_sum(list_transform(string_split(reverse({digits}), ''), lambda ch, i: {doubled})) % 10 = 0)"


def _card_ok_sql(m: str) -> str:
    d = _digits_sql(m)
    return f"(length({d}) between 13 and 19 and regexp_matches({d}, '^([3-6]|2[2-7])') and {_luhn_sql(d)})"


def _ssn_ok_sql(m: str) -> str:
    return (f"(left({m}, 3) not in ('000', '666') and left({m}, 1) <> '9' and substr({m}, 4, 2) <> '00' "
            f"and right({m}, 4) <> '0000')")


@dataclass(frozen=True)
class _Checked:
    """A detector whose candidates (group 2 of `pattern`) are replaced only when they pass a check."""

    pattern: str
    label: str
    check: Callable[[str], bool]
    check_sql: Callable[[str], str]

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.pattern)


_INTERNATIONAL = _Checked(PHONE_INTERNATIONAL, "phone", lambda m: len(_digits(m)) >= 8,
                          lambda m: f"(length({_digits_sql(m)}) >= 8)")
_NATIONAL_SPACED = _Checked(PHONE_NATIONAL_SPACED, "phone", lambda m: len(_digits(m)) >= 9,
                            lambda m: f"(length({_digits_sql(m)}) >= 9)")
_NATIONAL_DASHED = _Checked(PHONE_NATIONAL_DASHED, "phone", lambda m: len(_digits(m)) >= 9,
                            lambda m: f"(length({_digits_sql(m)}) >= 9)")
_CARD_GROUPED = _Checked(CARD_GROUPED, "card", _card_ok, _card_ok_sql)
_CARD_BARE = _Checked(CARD_BARE, "card", _card_ok, _card_ok_sql)
_SSN_BARE = _Checked(SSN_BARE, "ssn", _ssn_ok, _ssn_ok_sql)

# (pattern, label) replaced by regular expression, in this order, then the checked detectors.
_REPLACED = ((EMAIL, "email"), (SSN_SEPARATED, "ssn"), (PHONE_NANP, "phone"))
# Cards first: a grouped card number also holds a dash-separated trunk-prefix phone shape (5500-0000-0000-0004).
_CHECKED = (_CARD_GROUPED, _CARD_BARE, _INTERNATIONAL, _NATIONAL_SPACED, _NATIONAL_DASHED, _SSN_BARE)
# Identifiers: only the delimited forms (no bare digit runs, no dash- or dot-separated trunk numbers, which
# look like "ord-0001-20261202").
_ID_MATCHED = (EMAIL, SSN_SEPARATED, PHONE_NANP)
_ID_CHECKED = (_CARD_GROUPED, _INTERNATIONAL, _NATIONAL_SPACED)

_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _CACHE:
        _CACHE[pattern] = re.compile(pattern, re.ASCII)
    return _CACHE[pattern]


def _candidates(detector: _Checked, text: str) -> list[str]:
    return [m.group(2) for m in detector.regex.finditer(text) if detector.check(m.group(2))]


def scrub_all(text: str) -> str:
    """`scrub` without the pre-filter (tests check that the pre-filter never changes a result)."""
    for pattern, label in _REPLACED:
        text = _compiled(pattern).sub(REDACTED[label], text)
    found = [(c, REDACTED[d.label]) for d in _CHECKED for c in _candidates(d, text)]
    for candidate, placeholder in found:  # placeholders hold no digits: no new candidate appears
        text = text.replace(candidate, placeholder)
    return text


def scrub(text: str) -> str:
    """Free text with every e-mail, phone number, SSN and card number replaced by a placeholder."""
    if not text or not _compiled(PREFILTER).search(text):
        return text  # the common case: ids and names with nothing to scrub
    return scrub_all(text)


def id_has_pii(value: str) -> bool:
    """The identifier holds a delimited PII form (module docstring); bare digit runs are ids."""
    if not value or not _compiled(ID_PREFILTER).search(value):
        return False
    return (any(_compiled(p).search(value) for p in _ID_MATCHED)
            or any(_candidates(d, value) for d in _ID_CHECKED))


def pseudonym(value: str, key: str) -> str:
    """The keyed hash that replaces an identifier holding PII (the same in SQL: `scrub_id_sql`)."""
    return "pii_" + hashlib.sha256((key + value).encode("utf-8")).hexdigest()[:32]


def scrub_id(value: str, key: str) -> str:
    """An identifier safe to store: itself, or its keyed pseudonym when it holds PII."""
    return pseudonym(value, key) if id_has_pii(value) else value


# ---- SQL ------------------------------------------------------------------------------------------------

def _found_sql(detector: _Checked, text: str) -> str:
    """DuckDB list of the detector's candidates in `text` that pass its check."""
    return (f"list_filter(regexp_extract_all({text}, {quote(detector.pattern)}, 2), "
            f"lambda m: {detector.check_sql('m')})")


def _scrub_all_sql(expr: str) -> str:
    out = expr
    for pattern, label in _REPLACED:
        out = f"regexp_replace({out}, {quote(pattern)}, {quote(REDACTED[label])}, 'g')"
    # The replaced text is bound once to `t` (a one-element list_transform) and every checked detector
    # extracts from it, as scrub_all does; [candidate, placeholder] pairs are replaced in order.
    pairs = ", ".join(f"list_transform({_found_sql(d, 't')}, lambda m: [m, {quote(REDACTED[d.label])}])"
                      for d in _CHECKED)
    body = f"list_reduce(list_concat({pairs}), lambda acc, p: replace(acc, p[1], p[2]), t)"
    return f"list_transform([{out}], lambda t: {body})[1]"


def _scrub_body(expr: str) -> str:
    return f"(case when regexp_matches({expr}, {quote(PREFILTER)}) then {_scrub_all_sql(expr)} else {expr} end)"


def scrub_sql(expr: str) -> str:
    """A DuckDB expression that scrubs the string expression `expr` exactly as `scrub` does.

    It calls a macro that `set_key` creates on the connection: the contract's SQL scrubs some twenty fields,
    and twenty copies of the detectors made DuckDB spend more time parsing each file's statement than the
    scrubbing itself costs on a small file.
    """
    return f"{_SCRUB_MACRO}({expr})"


def id_has_pii_sql(expr: str) -> str:
    """DuckDB boolean: `id_has_pii` of the string expression `expr`."""
    matched = " or ".join(f"regexp_matches(v, {quote(p)})" for p in _ID_MATCHED)
    checked = " or ".join(f"len({_found_sql(d, 'v')}) > 0" for d in _ID_CHECKED)
    # CASE, not AND: in a projection DuckDB evaluates both sides of an AND for every row, the detectors too.
    return (f"(case when regexp_matches({expr}, {quote(ID_PREFILTER)}) "
            f"then coalesce(list_transform([{expr}], lambda v: {matched} or {checked})[1], false) else false end)")


KEY_VARIABLE = "aiw_pii_key"


def scrub_id_sql(expr: str) -> str:
    """A DuckDB expression: `scrub_id` of `expr`, with the key (and the macro) set on the connection by `set_key`.

    The key is a session variable, not a literal, so it never appears in SQL text (error messages quote it).
    """
    return f"{_SCRUB_ID_MACRO}({expr})"


def _scrub_id_body(expr: str) -> str:
    key = f"getvariable('{KEY_VARIABLE}')"
    # The missing-key error is a branch of its own: nested inside sha256() DuckDB folds it to NULL.
    return (f"(case when not {id_has_pii_sql(expr)} then {expr} "
            f"when {key} is null "
            f"then error('the PII key is not set on this connection (ingestion.contract.pii.set_key)') "
            f"else 'pii_' || left(sha256({key} || {expr}), 32) end)")


_SCRUB_MACRO = "aiw_pii_scrub"
_SCRUB_ID_MACRO = "aiw_pii_scrub_id"


def set_key(con: object, key: str) -> None:
    """Prepare a DuckDB connection for `scrub_sql` and `scrub_id_sql`: `key` as its PII key, and their macros."""
    con.execute(f"set variable {KEY_VARIABLE} = ?", [key])  # type: ignore[attr-defined]
    con.execute(f"create or replace temp macro {_SCRUB_MACRO}(x) as {_scrub_body('x')}")  # type: ignore[attr-defined]
    con.execute(f"create or replace temp macro {_SCRUB_ID_MACRO}(x) as {_scrub_id_body('x')}")  # type: ignore[attr-defined]


# ---- the key ----------------------------------------------------------------------------------------------

def key_path(home: Path) -> Path:
    """Where the PII key of an AIW_HOME lives (docs/contract.md: backing it up, rotating it)."""
    return home / "secrets" / "pii_key"


def load_key(home: Path) -> str:
    """The PII key of the AIW_HOME at `home`, created (256 random bits, mode 0600) on first use.

    Concurrent first uses agree: the key is written to a temporary file and linked into place, which fails
    when another process got there first; then that process's key is read.
    """
    path = key_path(home)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(path.parent, 0o700)
        tmp = path.with_name(f".pii_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip()
    if not re.fullmatch(r"[0-9a-f]{64}", key):
        raise ValueError(f"{path}: not a PII key (64 hex digits); restore it from your backup "
                         f"(docs/contract.md, 'The PII key')")
    return key
