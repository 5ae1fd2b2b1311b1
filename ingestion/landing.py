"""Landing files: which files exist, which load date they belong to, and their fingerprints."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ingestion.layout import Layout

LANDING_SUFFIXES = (".ndjson", ".jsonl", ".json")
_DATE_IN_PATH = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


@dataclass(frozen=True)
class LandingFile:
    """One file a producer wrote under landing/<source>/."""

    source: str
    path: Path
    relative_path: str  # relative to AIW_HOME/landing: the file's identity in the manifest
    load_date: str  # YYYY-MM-DD

    @property
    def is_gzip(self) -> bool:
        return self.path.name.endswith(".gz")


def is_landing_name(name: str) -> bool:
    """Files still being written carry a temporary name (a leading dot or .tmp/.partial): skip them."""
    if name.startswith(".") or name.endswith((".tmp", ".partial")):
        return False
    base = name[:-3] if name.endswith(".gz") else name
    return base.endswith(LANDING_SUFFIXES)


def load_date_of(path: Path, relative_path: str) -> str:
    """The load date: a YYYY-MM-DD in the file's path (producers write landing/<source>/<date>/...),
    else the UTC date the file was last modified."""
    for match in reversed(list(_DATE_IN_PATH.finditer(relative_path))):
        try:
            return dt.date(*map(int, match.groups())).isoformat()
        except ValueError:
            continue
    mtime = path.stat().st_mtime
    return dt.datetime.fromtimestamp(mtime, tz=dt.UTC).date().isoformat()


def discover(layout: Layout, sources: tuple[str, ...]) -> list[LandingFile]:
    """Every landing file of the given sources, sorted by path (the order they are loaded in)."""
    found: list[LandingFile] = []
    for source in sources:
        root = layout.landing_dir(source)
        if not root.exists():
            continue
        for path in root.rglob("*"):
            if path.is_file() and is_landing_name(path.name):
                rel = path.relative_to(layout.landing).as_posix()
                found.append(LandingFile(source, path, rel, load_date_of(path, rel)))
    return sorted(found, key=lambda f: f.relative_path)


def fingerprint(path: Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file, read in chunks so memory stays flat."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def starts_with_array(path: Path) -> bool:
    """A .json file may hold one JSON array of records instead of one record per line."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    return head.startswith(b"[")


# The longest landing line the loader reads. DuckDB's CSV reader stops at 2 MB by default, and one OTLP line
# from the Collector's file exporter holds a whole batch of spans (8,192 spans with message content: ~12 MB).
# The reader's buffer must hold two lines; each thread has one, so memory stays ~2 x 64 MB.
MAX_LINE_BYTES = 32 << 20


def lines_sql(path: Path) -> str:
    """A DuckDB relation (line_no, line) of a JSON-lines landing file (gzip or not), numbered from 1.

    A delimiter that cannot occur in JSON text (raw control characters must be escaped inside JSON
    strings) makes the CSV reader hand us whole lines, fast and in parallel; blank lines are kept, so
    line numbers are the file's own. Lines may be long: an OTLP line is a whole batch of spans.
    """
    quoted = "'" + str(path).replace("'", "''") + "'"
    return (f"(select ordinality as line_no, line from read_csv({quoted}, columns={{'line': 'VARCHAR'}}, "
            "header=false, delim='\\x1f', quote='', escape='', auto_detect=false, strict_mode=false, "
            f"max_line_size={MAX_LINE_BYTES}, buffer_size={2 * MAX_LINE_BYTES}, compression='auto') with ordinality)")
