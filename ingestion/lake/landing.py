"""Landing files: which files exist, which load date they belong to, and their fingerprints."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from ingestion.layout import Layout
from ingestion.sql import quote_path

LANDING_SUFFIXES = (".ndjson", ".jsonl", ".json")
# Rules of lines the reader cannot hand to the contract at all (quarantined like any other bad line).
RULE_INVALID_UTF8 = "invalid_utf8"
RULE_LINE_TOO_LONG = "line_too_long"
# A file is loaded once it has not been written for this long (docs/operations.md, "Rules for producers").
QUIET_SECONDS_ENV = "AIW_LANDING_QUIET_SECONDS"
DEFAULT_QUIET_SECONDS = 2.0
# Load dates the lake accepts: the first day of the Dagster partitions up to tomorrow (UTC).
FIRST_LOAD_DATE = dt.date(2024, 1, 1)
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

    @property
    def is_appendable(self) -> bool:
        """Plain JSON lines may grow by whole lines and are loaded again from where the last load stopped;
        a gzip file or a `.json` document is loaded whole, and any later change to it is a changed file."""
        return not self.is_gzip and not self.path.name.endswith(".json")

    @property
    def suffix(self) -> str:
        """The name's landing suffix (`.ndjson`, `.json.gz`, ...): what a reader needs to know of the name."""
        base = self.path.name[:-3] if self.is_gzip else self.path.name
        ext = next(s for s in LANDING_SUFFIXES if base.endswith(s))
        return ext + (".gz" if self.is_gzip else "")


def quiet_seconds() -> float:
    """How long a landing file must go unwritten before it is loaded ($AIW_LANDING_QUIET_SECONDS, default 2)."""
    raw = os.environ.get(QUIET_SECONDS_ENV, "")
    try:
        return max(0.0, float(raw)) if raw.strip() else DEFAULT_QUIET_SECONDS
    except ValueError:
        return DEFAULT_QUIET_SECONDS


def load_date_window(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The load dates a landing path may carry: FIRST_LOAD_DATE up to tomorrow (UTC) of `now`."""
    return FIRST_LOAD_DATE, now.astimezone(dt.UTC).date() + dt.timedelta(days=1)


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


# Separates the line number from the line in a numbered copy (`copy_segment`). A raw control character
# cannot occur in valid JSON text, so a line holding one is malformed however it is cut.
NUMBER_SEPARATOR = b"\x1f"
# What a line's own separator characters become in a numbered copy: another raw control character, so the
# line stays exactly as malformed as it was (and is not cut in two).
SEPARATOR_STANDIN = b"\x01"


def lines_sql(path: Path, numbered: bool = False, longest_line: int | None = None) -> str:
    """A DuckDB relation (line_no, line) of a JSON-lines landing file (gzip or not), numbered from 1.

    A delimiter that cannot occur in JSON text (raw control characters must be escaped inside JSON
    strings) makes the CSV reader hand us whole lines; blank lines are kept, so line numbers are the
    file's own. Lines may be long: an OTLP line is a whole batch of spans.

    A `numbered` copy (`copy_segment`) carries each line's number in front of it, so DuckDB reads it in
    parallel; otherwise the lines are numbered in the order read (`with ordinality`), which makes DuckDB run
    the whole statement that consumes them on one thread.

    `longest_line` (bytes, known for a numbered copy) sizes the reader's buffer: DuckDB gives each buffer
    to one thread, so a buffer sized for the longest line allowed (2 x 32 MB) read a file of a few MB on one
    thread, and allocating it cost more than reading the file.
    """
    quoted = quote_path(path)
    max_line = MAX_LINE_BYTES
    if longest_line is not None:
        max_line = min(MAX_LINE_BYTES, max(1 << 20, 2 * longest_line))
    options = ("header=false, quote='', escape='', auto_detect=false, strict_mode=false, "
               f"max_line_size={max_line}, buffer_size={max(4 << 20, 2 * max_line)}, compression='auto'")
    if numbered:
        # The separator byte itself (a SQL literal holds it as it is; '\\x1f' would be four characters).
        separator = NUMBER_SEPARATOR.decode()
        return (f"(select line_no, line from read_csv({quoted}, columns={{'line_no': 'BIGINT', 'line': 'VARCHAR'}}, "
                f"delim='{separator}', {options}))")
    return (f"(select ordinality as line_no, line from read_csv({quoted}, columns={{'line': 'VARCHAR'}}, "
            f"delim='\\x1f', {options}) with ordinality)")


class UnreadableFile(ValueError):
    """A landing file that cannot be read at all (a corrupt or truncated gzip stream): rejected whole."""


@dataclass(frozen=True)
class Segment:
    """The bytes of a landing file one load reads: [start_offset, end_offset), copied to `path`.

    The copy has a name of our own (no glob characters, the original suffix) and a fixed length, so a
    producer appending while we read cannot make the load read more than the manifest records.
    """

    path: Path
    start_offset: int
    end_offset: int  # bytes of the file covered once this load commits
    sha256: str  # of the file's bytes [0, end_offset)
    line_offset: int  # physical lines before start_offset: the tail keeps the file's own line numbers
    file_size: int  # size and mtime when read, to notice the next change cheaply
    mtime_ns: int
    numbered: bool = False  # each line of the copy starts with its number and NUMBER_SEPARATOR (lines_sql)
    longest_line: int | None = None  # bytes of the copy's longest line, prefix included (numbered copies)

    @property
    def is_empty(self) -> bool:
        return self.end_offset == self.start_offset


class ChangedFile(ValueError):
    """A landing file whose already-loaded bytes changed (rewritten, truncated, or a gzip/.json that grew)."""


def _end_of_last_line(fh, start: int, size: int) -> int:  # noqa: ANN001
    """Offset just after the last newline in [start, size), or `start` when there is none."""
    pos = size
    while pos > start:
        step = min(1 << 16, pos - start)
        fh.seek(pos - step)
        chunk = fh.read(step)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return pos - step + cut + 1
        pos -= step
    return start


def copy_segment(f: LandingFile, dest: Path, start: int, prefix_sha256: str | None,
                 numbered: bool = False) -> Segment:
    """Copy the part of `f` a load reads to `dest`, verifying that the bytes loaded before are unchanged.

    `start` and `prefix_sha256` come from the manifest (0 and None for a file never loaded). Appendable files
    are read up to their last newline (a line still being written waits for the next load); others whole.
    Raises ChangedFile when the bytes below `start` are not the ones loaded before.

    `numbered` (appendable files only) writes each line as `<n>` NUMBER_SEPARATOR `<line>`, n counted from 1
    in the segment, so that DuckDB can read the copy in parallel (`lines_sql`).
    """
    st = f.path.stat()
    size = st.st_size
    with f.path.open("rb") as fh:
        if start and (not f.is_appendable or size < start):
            # Not appendable (or shrunk): unchanged only if the whole file is the one loaded before.
            now_sha = fingerprint(f.path)[1]
            if size == start and now_sha == prefix_sha256:
                return Segment(dest, start, start, now_sha, 0, size, st.st_mtime_ns)
            raise ChangedFile(_changed_reason(f, prefix_sha256, now_sha))
        end = _end_of_last_line(fh, start, size) if f.is_appendable else size
        fh.seek(0)
        digest = hashlib.sha256()
        lines_before, left = 0, start
        while left:
            chunk = fh.read(min(1 << 22, left))
            if not chunk:
                break
            digest.update(chunk)
            lines_before += chunk.count(b"\n")
            left -= len(chunk)
        if start and digest.hexdigest() != prefix_sha256:
            raise ChangedFile(_changed_reason(f, prefix_sha256, fingerprint(f.path)[1]))
        numbered = numbered and f.is_appendable
        with dest.open("wb") as out:
            numbering = _NumberedWriter(out) if numbered else None
            write = numbering.write if numbering else out.write
            left = end - start
            while left:
                chunk = fh.read(min(1 << 22, left))
                if not chunk:
                    break
                digest.update(chunk)
                write(chunk)
                left -= len(chunk)
    return Segment(dest, start, end, digest.hexdigest(), lines_before, size, st.st_mtime_ns, numbered,
                   numbering.longest if numbering else None)


class _NumberedWriter:
    """Writes whole lines, each prefixed with its number (from 1) and NUMBER_SEPARATOR.

    The segment of an appendable file ends with a newline, so every line it holds is whole."""

    def __init__(self, out) -> None:  # noqa: ANN001
        self._out = out
        self._next = 1
        self._partial = b""
        self.longest = 0  # bytes of the longest line written, its number and separator included

    def write(self, chunk: bytes) -> None:
        # The separators are replaced in the chunk itself, before the line still open at its end is kept for
        # the next one: a line that spans two chunks is replaced in both.
        lines = (self._partial + chunk.replace(NUMBER_SEPARATOR, SEPARATOR_STANDIN)).split(b"\n")
        self._partial = lines.pop()
        first, self._next = self._next, self._next + len(lines)
        if lines:
            self.longest = max(self.longest, max(map(len, lines)) + len(str(self._next)) + 1)
        self._out.write(b"".join([b"%d\x1f%b\n" % pair for pair in enumerate(lines, start=first)]))


def _changed_reason(f: LandingFile, was: str | None, now: str) -> str:
    how = "grew" if not f.is_appendable else "changed"
    return (f"content {how} after it was loaded (sha256 of the loaded bytes was {(was or '?')[:12]}, "
            f"the file is now {now[:12]}); landing files may only grow by whole lines at the end")


def sanitized_copy(src: Path, gz: bool, dest: Path, max_line_bytes: int,
                   numbered: bool = False) -> list[tuple[int, str, str]]:
    """Copy the lines of `src` to plain `dest`, replacing lines DuckDB cannot read (not UTF-8, too long).

    Each replaced line becomes a marker line the contract rejects, at the same line number; the caller
    re-labels it with the rule returned here as (line_no, rule, preview). Raises UnreadableFile when the
    file itself cannot be read (a corrupt or truncated gzip stream). A `numbered` source (`copy_segment`)
    has its line numbers taken off: `dest` is always a plain copy.
    """
    bad: list[tuple[int, str, str]] = []
    opener = gzip.open if gz else open
    try:
        with opener(src, "rb") as fh, dest.open("wb") as out:
            line_no = 0
            # A numbered line starts with up to 20 digits and the separator: read that much more.
            limit = max_line_bytes + 1 + (21 if numbered else 0)
            while line := fh.readline(limit):
                line_no += 1
                if numbered:
                    line = line.partition(NUMBER_SEPARATOR)[2]
                too_long = len(line) > max_line_bytes and not line.endswith(b"\n")
                if too_long:
                    preview = line[:200]
                    while (rest := fh.readline(1 << 20)) and not rest.endswith(b"\n"):
                        pass
                    bad.append((line_no, RULE_LINE_TOO_LONG, preview.decode("utf-8", "replace")))
                    out.write(b"\x01unreadable line\n")
                    continue
                content = line[:-1] if line.endswith(b"\n") else line
                try:
                    content.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append((line_no, RULE_INVALID_UTF8, content[:200].decode("utf-8", "replace")))
                    out.write(b"\x01unreadable line\n")
                    continue
                out.write(content + b"\n")
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise UnreadableFile(f"unreadable {'gzip ' if gz else ''}file: {exc}") from exc
    return bad
