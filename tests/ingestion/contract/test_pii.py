"""The PII case table (tests/builders/pii_cases.py) through both engines: the Python reference and the loader's SQL."""

from __future__ import annotations

import hashlib
import os
import stat

import duckdb
import pytest

from ingestion.contract import pii
from tests.builders.pii_cases import PII_CASES
from tests.conftest import TEST_PII_KEY

TEXTS = [text for text, _, _ in PII_CASES]


@pytest.fixture(scope="module")
def sql_results() -> dict[str, tuple[str, bool, str]]:
    """(scrub_sql, id_has_pii_sql, scrub_id_sql) of every case, computed in one DuckDB query."""
    con = duckdb.connect()
    pii.set_key(con, TEST_PII_KEY)
    con.execute("create table cases (text varchar)")
    con.executemany("insert into cases values (?)", [(t,) for t in TEXTS])
    rows = con.execute(f"select text, {pii.scrub_sql('text')}, {pii.id_has_pii_sql('text')}, "
                       f"{pii.scrub_id_sql('text')} from cases").fetchall()
    return {text: (scrubbed, has_pii, scrubbed_id) for text, scrubbed, has_pii, scrubbed_id in rows}


def _expected_id(text: str, is_pii: bool) -> str:
    # Computed here from the definition (sha256 of key and value), not with the code under test.
    if not is_pii:
        return text
    return "pii_" + hashlib.sha256((TEST_PII_KEY + text).encode()).hexdigest()[:32]


@pytest.mark.parametrize(("text", "scrubbed", "is_pii"), PII_CASES, ids=TEXTS)
def test_python_reference(text, scrubbed, is_pii):
    assert pii.scrub(text) == scrubbed
    assert pii.scrub_all(text) == scrubbed  # the pre-filter changes nothing
    assert pii.id_has_pii(text) is is_pii
    assert pii.scrub_id(text, TEST_PII_KEY) == _expected_id(text, is_pii)


@pytest.mark.parametrize(("text", "scrubbed", "is_pii"), PII_CASES, ids=TEXTS)
def test_loader_sql(sql_results, text, scrubbed, is_pii):
    assert sql_results[text] == (scrubbed, is_pii, _expected_id(text, is_pii))


def test_the_table_has_false_positives_as_first_class_cases():
    kept = [t for t, scrubbed, is_pii in PII_CASES if t == scrubbed and not is_pii]
    assert len(kept) >= 30
    assert "1732000000007" in kept and "1601234567890123458" in kept  # Luhn-valid epoch ms and numeric id


def test_ids_are_pii_only_in_delimited_forms():
    """Every id verdict of the table is also a free-text verdict: id mode only drops bare digit runs."""
    for text, scrubbed, is_pii in PII_CASES:
        if is_pii:
            assert scrubbed != text, text


def test_the_key_is_created_once_private_and_stable(tmp_path):
    home = tmp_path / "aiw"
    key = pii.load_key(home)
    path = pii.key_path(home)
    assert path == home / "secrets" / "pii_key"
    assert len(key) == 64 and int(key, 16) >= 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert pii.load_key(home) == key  # read back, not replaced
    assert pii.load_key(tmp_path / "other") != key  # one per AIW_HOME
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_a_damaged_key_is_an_error_not_a_new_key(tmp_path):
    home = tmp_path / "aiw"
    pii.load_key(home)
    pii.key_path(home).write_text("oops\n")
    with pytest.raises(ValueError, match="pii_key: not a PII key"):
        pii.load_key(home)


def test_sql_without_a_key_fails_loudly_instead_of_storing_null_ids():
    query = f"select {pii.scrub_id_sql('x')} from (select 'jane@example.com' as x)"
    con = duckdb.connect()
    with pytest.raises(duckdb.CatalogException, match="aiw_pii_scrub_id"):
        con.execute(query).fetchall()  # a connection that set_key did not prepare
    pii.set_key(con, TEST_PII_KEY)
    con.execute(f"reset variable {pii.KEY_VARIABLE}")
    with pytest.raises(duckdb.Error, match="PII key is not set"):
        con.execute(query).fetchall()
