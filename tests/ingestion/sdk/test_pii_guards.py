"""The scrubber's cheap guards (the pre-filters that skip text which cannot hold PII) change no output, and
the loader's SQL agrees with the Python reference on random texts built from PII and look-alike parts."""

from __future__ import annotations

import random

import duckdb

from ingestion.contract import pii
from tests.builders.pii_cases import PII_CASES
from tests.conftest import TEST_PII_KEY

PARTS = [text for text, _, _ in PII_CASES] + [" ", "-", ".", "(", ")", "+", "@", "x", "_", "#", "/", ":", "0",
                                              "1", "42", "ë", "＠", "%40", "2020-01-01", "e_9f3a"]


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PARTS) for _ in range(rng.randint(0, 5))) for _ in range(n)]


def test_guarded_scrub_equals_running_every_detector():
    for text in texts(20_000, 5):
        assert pii.scrub(text) == pii.scrub_all(text), text
    assert pii.scrub("call 555-123-4567 or mail a@b.co") == "call [phone] or mail [email]"


def test_the_pre_filters_are_necessary_conditions_on_digit_soup():
    """Random digits and separators: the shapes the pre-filters reason about, in every combination."""
    rng = random.Random(7)
    alphabet = "0000123456789     --..()+@x_#"
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(30_000)]
    assert [s for s in samples if pii.scrub(s) != pii.scrub_all(s)] == []
    unfiltered_id = [s for s in samples if any(pii._compiled(p).search(s) for p in pii._ID_MATCHED)
                     or any(pii._candidates(d, s) for d in pii._ID_CHECKED)]
    assert [s for s in unfiltered_id if not pii.id_has_pii(s)] == []
    assert len(unfiltered_id) > 50 and sum(pii.scrub(s) != s for s in samples) > 100


def test_the_sql_scrubber_agrees_with_the_reference_on_random_texts():
    sample = texts(3_000, 11)
    con = duckdb.connect()
    pii.set_key(con, TEST_PII_KEY)
    con.execute("create table t (i integer, text varchar)")
    con.executemany("insert into t values (?, ?)", list(enumerate(sample)))
    rows = con.execute(f"select i, {pii.scrub_sql('text')}, {pii.scrub_id_sql('text')} from t order by i").fetchall()
    differ = [(sample[i], got, got_id) for i, got, got_id in rows
              if (got, got_id) != (pii.scrub(sample[i]), pii.scrub_id(sample[i], TEST_PII_KEY))]
    assert differ == []
    assert sum(pii.scrub(s) != s for s in sample) > 1_000  # the sample does exercise the detectors
