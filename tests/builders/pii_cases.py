"""The one table of PII cases: every text with what the scrubber must make of it, in free text and in an id.

Each row is (text, expected `scrub(text)`, expected `id_has_pii(text)`). `tests/ingestion/contract/test_pii.py` runs
every row through the Python reference (`ingestion.contract.pii`) and through the SQL the loader runs
(`scrub_sql`, `id_has_pii_sql`, `scrub_id_sql` in DuckDB) and requires both to give exactly the expected
result. False positives (texts that look like PII and are not) are rows like any other: their expected
result is the text itself and `False`.
"""

from __future__ import annotations

E, P, S, C = "[email]", "[phone]", "[ssn]", "[card]"

PII_CASES: list[tuple[str, str, bool]] = [
    # ---- e-mail addresses
    ("jane.roe@example.org", E, True),
    ("mail bob.smith+tag@mail.example.co.uk now", f"mail {E} now", True),
    ("carol@exämple.com", E, True),  # IDN domain
    ("josé.müller@münchen.de", E, True),  # non-ASCII local part too
    ("carol@xn--exmple-cua.com", E, True),  # the same domain in punycode
    ("user@пример.рф", E, True),  # non-ASCII top-level domain
    ("carol%40example.com", E, True),  # percent-encoded
    ("?email=carol%40example.com&x=1", f"?email={E}&x=1", True),
    ("carol＠example.com", E, True),  # full-width at sign
    ("ｃａｒｏｌ＠ｅｘａｍｐｌｅ．ｃｏｍ", E, True),  # full-width throughout
    ("carol﹫example.com", E, True),  # small commercial at
    ("user:jane@example.com", f"user:{E}", True),  # an id with a delimited e-mail part
    ("carol\\u0040example.com", E, True),  # JSON escapes, as in the text of a broken line
    ("carol@ex\\u00e4mple.com", E, True),
    ("\\uff43\\uff41\\uff52\\uff4f\\uff4c\\uff20"
     "\\uff45\\uff58\\uff41\\uff4d\\uff50\\uff4c\\uff45\\uff0e\\uff43\\uff4f\\uff4d", E, True),
    ("say \\u0022hi\\u0022 to everyone", "say \\u0022hi\\u0022 to everyone", False),
    # ---- phone numbers
    ("+14155550101", P, True),  # E.164
    ("+447911123456", P, True),
    ("call +44 20 7946 0958 today", f"call {P} today", True),  # international with spaces
    ("+1 (415) 555-0101", P, True),
    ("+1-800-555-0199", P, True),
    ("+33 1 23 45 67 89", P, True),
    ("+49 30 901820", P, True),
    ("tel:+81-3-1234-5678", f"tel:{P}", True),
    ("(415) 555-0101", P, True),  # North American national formats
    ("415-555-0101", P, True),
    ("415.555.0101", P, True),
    ("415 555 0101", P, True),
    ("020 7946 0958", P, True),  # trunk-prefix national formats
    ("(020) 7946 0958", P, True),
    ("07911 123456", P, True),
    ("01 23 45 67 89", P, True),
    ("030 901820", P, True),
    ("0044 20 7946 0958", P, True),  # 00 international prefix
    ("01-23-45-67-89", P, False),  # dash-separated trunk numbers: free text yes, ids no (ord-0001-2026...)
    ("07911.123.456", P, False),
    ("two numbers: +14155550101, +447911123456", f"two numbers: {P}, {P}", True),
    # ---- SSNs
    ("078-05-1120", S, True),
    ("ssn 078 05 1120", f"ssn {S}", True),
    ("078051120", S, False),  # no separators: free text only (in an id it is a numeric id)
    ("ssn:078051120.", f"ssn:{S}.", False),
    ("078051120 219099999", f"{S} {S}", False),
    # ---- card numbers (Luhn-valid test numbers)
    ("4111111111111111", C, False),  # bare: in an id it is a numeric id
    ("card 4111 1111 1111 1111 declined", f"card {C} declined", True),
    ("5555.5555.5555.4444", C, True),  # dots
    ("5500-0000-0000-0004", C, True),  # dashes
    ("3782 822463 10005", C, True),  # Amex grouping
    ("378282246310005", C, False),
    ("6011000990139424", C, False),
    ("2223003122003222", C, False),  # 2-series Mastercard
    ("4111111111111111 and 5555555555554444", f"{C} and {C}", False),
    # ---- false positives: must stay as they are, in free text and in ids
    ("4111111111111112", "4111111111111112", False),  # fails Luhn
    ("4111 1111 1111 1112", "4111 1111 1111 1112", False),
    ("1732000000007", "1732000000007", False),  # epoch ms (Luhn-valid, starts with 1)
    ("1732000000000123452", "1732000000000123452", False),  # epoch ns (Luhn-valid)
    ("at 1732000000007 ms", "at 1732000000007 ms", False),
    ("20261202004457", "20261202004457", False),  # compact timestamp (Luhn-valid)
    ("2026-12-02T00:44:59.123+00:00", "2026-12-02T00:44:59.123+00:00", False),  # ISO timestamp
    ("2026-12-02 00:44:59", "2026-12-02 00:44:59", False),
    ("05.01.2024 10:30", "05.01.2024 10:30", False),  # European date and time
    ("01/02/2024", "01/02/2024", False),
    ("order #123456789", "order #123456789", False),  # order numbers
    ("ORD-123456789", "ORD-123456789", False),
    ("112-4567890-1234567", "112-4567890-1234567", False),
    ("invoice INV-2026-000123", "invoice INV-2026-000123", False),
    ("d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e", False),  # hashes
    ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", False),
    ("4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736", False),  # trace id
    ("00f067aa0ba902b7", "00f067aa0ba902b7", False),  # span id
    ("123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000", False),  # UUIDs
    ("12345678-1234-5678-1234-567812345678", "12345678-1234-5678-1234-567812345678", False),
    ("1601234567890123458", "1601234567890123458", False),  # snowflake-style numeric id (Luhn-valid)
    ("e_5234567890123453", "e_5234567890123453", False),  # prefixed numeric id (Luhn-valid digits)
    ("sess_4111111111111111", "sess_4111111111111111", False),
    ("user-078051120", "user-078051120", False),
    ("u_00123", "u_00123", False),
    ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06", False),  # model versions
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", False),
    ("v1.2.3", "v1.2.3", False),  # version strings
    ("10.0.19045.3803", "10.0.19045.3803", False),
    ("192.168.100.200", "192.168.100.200", False),
    ("$1,234.56", "$1,234.56", False),  # prices
    ("0.00725 USD", "0.00725 USD", False),
    ("+12.5%", "+12.5%", False),
    ("+1 000 000 tokens", "+1 000 000 tokens", False),
    ("latency 1234 ms, 567 tokens", "latency 1234 ms, 567 tokens", False),
    ("HTTP 429 Too Many Requests", "HTTP 429 Too Many Requests", False),
    ("a@b", "a@b", False),  # no domain
    ("@channel", "@channel", False),
    ("", "", False),
]
