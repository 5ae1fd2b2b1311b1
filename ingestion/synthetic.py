"""Synthetic landing data that looks like production and breaks the contract in every documented way.

`generate()` writes native NDJSON under landing/native/<load date>/ and returns a `Generation`
describing what it planted: for every line, whether it is a valid record, a retry of one, or which
contract rule it breaks. Tests compute their expectations from that ground truth, never from the
warehouse.

What it simulates (deterministic for a seed and an end date):
- features with a primary model, a fallback model and a response cache;
- sessions of varied length (geometric), users with a heavy-tailed activity distribution;
- TTFT and latency with a long tail (log-normal), token counts, prompt-cache hits;
- regenerations, edits and rare ratings; some ratings arrive later as feedback records;
- a planted regression: a new version of one model, rolled out from a given day, with slower first
  tokens and more regenerations;
- a "whale" user whose spend blows the rolling budget; repeated identical responses;
- a planted spend spike: on the last day of a history long enough to judge it (`Spike`), one feature's
  prompts are eight times longer (a prompt template that pulls in too much context);
- events that land a day late (in the next day's file);
- a small share of rows breaking each contract rule, exact duplicate retries and conflicting ones.

Where the rows breaking a contract rule land is the file mix (`MIXES`):
- `uniform`: wherever the event falls, so every file carries about `bad_share` of them;
- `producer`: as producers write files, most are clean and a broken producer's file carries the bad
  rows: on each day, one of the day's `files_per_day` files holds all of that day's contract
  violations (1 file in 7 with 7 files a day), spread through it; the others have none. The lines are
  the same as the uniform mix's, only moved between files of the same landing day, so both mixes have
  the same events, the same planted count per rule and the same share per load date (so a producer
  file with 7% bad rows does not trip the 5% per-load quarantine threshold). Retries (exact and
  conflicting) stay where they fell in both mixes: they come from the network, not from a broken
  producer, and a conflict is found against history, not by the contract rules.
`generate()` writes the mix of `Options.mix` into its layout and, from the same events, any other mix
into the layouts given in `also`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ingestion.contract import schema as c
from ingestion.contract.quality import producer_quality
from ingestion.layout import Layout

# (model_id, provider, input $/MTok, cached input $/MTok, output $/MTok, ttft median ms, ms per output token)
MODELS: dict[str, tuple[str, float, float, float, float, float]] = {
    "gpt-4o": ("openai", 2.50, 1.25, 10.00, 620.0, 11.0),
    "gpt-4o-mini": ("openai", 0.15, 0.075, 0.60, 380.0, 7.0),
    "claude-3-5-sonnet": ("anthropic", 3.00, 0.30, 15.00, 600.0, 13.0),
    "claude-3-5-haiku": ("anthropic", 0.80, 0.08, 4.00, 420.0, 8.0),
}
MIXES = ("uniform", "producer")  # where the rows breaking a contract rule land (module docstring)
# Truth labels of lines that are not contract violations: they stay in place in every mix.
_NOT_VIOLATIONS = frozenset({"valid", "feedback", "duplicate", c.RULE_DUPLICATE_CONFLICT})

# A response served from the application's cache is charged this share of the model call (the dbt var
# cache_hit_cost_ratio documents the figure); producers estimate cache hits the same way.
CACHE_HIT_COST_RATIO = 0.15

MODEL_VERSIONS = {"gpt-4o": "2024-08-06", "gpt-4o-mini": "2024-07-18",
                  "claude-3-5-sonnet": "20241022", "claude-3-5-haiku": "20241022"}

# feature -> (primary model, fallback model, mean prompt tokens, mean completion tokens)
FEATURES: dict[str, tuple[str, str, int, int]] = {
    "chat_assistant": ("gpt-4o", "claude-3-5-sonnet", 1800, 350),
    "summarize_doc": ("gpt-4o-mini", "claude-3-5-haiku", 6000, 300),
    "code_review": ("claude-3-5-sonnet", "gpt-4o", 4000, 600),
    "search_answer": ("gpt-4o-mini", "gpt-4o", 1200, 200),
    "email_draft": ("claude-3-5-haiku", "gpt-4o-mini", 600, 250),
}


@dataclass(frozen=True)
class Regression:
    """A new model version that got worse, rolled out to a share of traffic from a given day."""

    model_id: str = "gpt-4o"
    new_version: str = "2024-11-20"
    from_day: int = 0  # index of the first day (0 = first generated day); default: the middle
    rollout_share: float = 0.5
    ttft_factor: float = 1.9
    regenerate_rate: float = 0.30


@dataclass(frozen=True)
class Spike:
    """One feature's prompts `prompt_factor` times longer on the last generated day: a spend spike.

    Planted only when the history has at least `min_days` days, so that the day has three earlier weeks of
    the same weekday to be judged against (the dbt var spend_anomaly_min_weeks) and shorter histories,
    which every other test generates, are unchanged. It scales tokens already drawn: no random draw of its
    own, so every other value of the data is the same with or without it."""

    feature: str = "chat_assistant"
    prompt_factor: float = 8.0
    min_days: int = 22

    def day(self, days: int) -> int | None:
        """The index of the spiked day in a history of `days` days, or None when there is none."""
        return days - 1 if days >= self.min_days else None


@dataclass(frozen=True)
class Options:
    events: int = 10_000
    days: int = 7
    seed: int = 7
    end_date: dt.date | None = None  # last generated day (UTC); default today
    bad_share: float = 0.01  # share of lines breaking some contract rule
    duplicate_share: float = 0.005  # exact retries
    conflict_share: float = 0.0005  # same event_id, different content
    late_share: float = 0.02  # events landing in the next day's file
    regenerate_rate: float = 0.08
    edit_rate: float = 0.05
    rating_rate: float = 0.03
    late_feedback_share: float = 0.5  # of ratings, the share sent later as feedback records
    users: int = 2_000
    files_per_day: int = 1
    whale_user: str = "u_whale"
    whale_sessions_per_day: int = 8  # ~$13 a day: over the $20 7-day user budget on day 2
    duplicate_response_share: float = 0.01  # answers that repeat an earlier identical answer
    regression: Regression = field(default_factory=Regression)
    spike: Spike | None = field(default_factory=Spike)  # None: no spike
    mix: str = "uniform"  # one of MIXES: where the lines breaking a contract rule land


@dataclass
class Generation:
    """What was written, with the ground truth tests rely on."""

    files: list[Path] = field(default_factory=list)
    lines: int = 0
    valid_interactions: int = 0
    valid_feedback: int = 0
    duplicates: int = 0
    planted: Counter[str] = field(default_factory=Counter)  # contract rule -> lines breaking it
    valid_records: list[dict[str, Any]] = field(default_factory=list)  # kept when keep_records=True
    valid_feedback_records: list[dict[str, Any]] = field(default_factory=list)  # likewise
    regression_version: str = ""
    regression_day: str = ""
    whale_user: str = ""
    spike_feature: str = ""  # the feature whose cost was spiked, on spike_day; both empty when none was
    spike_day: str = ""
    files_by_mix: dict[str, list[Path]] = field(default_factory=dict)  # every mix written, with its files
    violations_per_file: dict[Path, int] = field(default_factory=dict)  # contract violations in each file

    @property
    def quarantined(self) -> int:
        return sum(self.planted.values())


def _list_price(model: str, prompt: int, cached: int, completion: int) -> float:
    _prov, inp, cached_rate, out, _ttft, _tok = MODELS[model]
    return ((prompt - cached) * inp + cached * cached_rate + completion * out) / 1e6


# Contract 1.2 tags. Every user belongs to one tenant (a customer org) and every feature to one team; a tenth
# of sessions run in staging; sessions are split between two prompt versions. All of it is a function of ids
# the generator already drew (no draw of its own), so adding tags changed no other value of the data.
TENANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell")
TEAMS = {"chat_assistant": "assistant", "summarize_doc": "productivity", "code_review": "devtools",
         "search_answer": "search", "email_draft": "productivity"}
PROMPT_VERSIONS = ("v1", "v2")


def _pick(key: str, n: int) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % n


def synthetic_tags(user: str, feature: str, session_id: str) -> dict[str, str]:
    return {"tenant": TENANTS[_pick(user, len(TENANTS))], "team": TEAMS.get(feature, "platform"),
            "env": "staging" if _pick(session_id + "env", 10) == 0 else "prod"}


class _Builder:
    """Builds valid interactions for one simulated day."""

    def __init__(self, opts: Options, rng: random.Random) -> None:
        self.o, self.rng = opts, rng
        # Heavy-tailed activity (Zipf, exponent 0.5): the busiest regular user makes ~1% of sessions,
        # well under the default rolling budgets; only the planted whale blows them.
        self.user_cum_weights = list(itertools.accumulate(1.0 / (i + 1) ** 0.5 for i in range(opts.users)))
        self.user_ids = range(opts.users)
        self.recent_responses: list[str] = []
        self.seq = 0

    def user(self) -> str:
        return f"u_{self.rng.choices(self.user_ids, cum_weights=self.user_cum_weights)[0]:05d}"

    def session(self, day_idx: int, day_start_ms: int, whale: bool = False) -> list[dict[str, Any]]:
        rng, o = self.rng, self.o
        feature = rng.choice(list(FEATURES))
        primary, fallback, mean_prompt, mean_completion = FEATURES[feature]
        if whale:
            feature, primary, fallback = "code_review", "claude-3-5-sonnet", "gpt-4o"
            mean_prompt, mean_completion = 100_000, 2_000  # ~$0.40 a call on claude-3-5-sonnet
        length = 1 + int(rng.expovariate(1 / 3.0))
        user = o.whale_user if whale else self.user()
        session_id = f"s_{hashlib.blake2b(f'{o.seed}-{day_idx}-{self.seq}'.encode(), digest_size=6).hexdigest()}"
        t = day_start_ms + int(rng.random() * 86_400_000 * 0.97)
        out = []
        for _ in range(length):
            out.append(self.call(feature, primary, fallback, mean_prompt, mean_completion, session_id, user, t,
                                 day_idx))
            t += int(rng.expovariate(1 / 40_000))
        return out

    def call(self, feature: str, primary: str, fallback: str, mean_prompt: int, mean_completion: int,
             session_id: str, user: str, ts: int, day_idx: int) -> dict[str, Any]:
        rng, o = self.rng, self.o
        self.seq += 1
        route = rng.random()
        routing = "primary" if route < 0.86 else ("fallback" if route < 0.93 else "cache")
        model = fallback if routing == "fallback" else primary
        version = MODEL_VERSIONS[model]
        reg = o.regression
        regressed = (model == reg.model_id and day_idx >= reg.from_day and rng.random() < reg.rollout_share)
        if regressed:
            version = reg.new_version
        _prov, _i, _c, _o, ttft_median, ms_per_token = MODELS[model]
        prompt = max(1, int(rng.lognormvariate(math.log(mean_prompt), 0.6)))
        if o.spike is not None and feature == o.spike.feature and day_idx == o.spike.day(o.days):
            prompt = int(prompt * o.spike.prompt_factor)
        completion = max(1, int(rng.lognormvariate(math.log(mean_completion), 0.7)))
        cached = int(prompt * rng.uniform(0.5, 0.9)) if rng.random() < 0.2 else 0
        if routing == "cache":
            ttft = rng.uniform(5, 40)
            latency = ttft + rng.uniform(5, 60)
            cached = prompt
        else:
            # Healthy models keep p95 TTFT around 1.1 s, under the 1.5 s SLO; 0.5% of calls hit a slow
            # path (queueing, cold cache) 2.5 times slower: the tail shows in p99, not p95.
            ttft = rng.lognormvariate(math.log(ttft_median * (reg.ttft_factor if regressed else 1.0)), 0.35)
            if rng.random() < 0.005:
                ttft *= 2.5
            latency = ttft + completion * ms_per_token * rng.lognormvariate(0, 0.35)
        regen_rate = reg.regenerate_rate if regressed else o.regenerate_rate
        regenerated = rng.random() < regen_rate
        edited = rng.random() < o.edit_rate
        rating = None
        if rng.random() < o.rating_rate:
            rating = "up" if rng.random() < (0.45 if regenerated else 0.78) else "down"
        cost = _list_price(model, prompt, cached, completion)
        if routing == "cache":
            cost *= CACHE_HIT_COST_RATIO
        if rng.random() < o.duplicate_response_share and self.recent_responses:
            response_hash = rng.choice(self.recent_responses)
        else:
            response_hash = hashlib.blake2b(f"{o.seed}-{self.seq}-r".encode(), digest_size=8).hexdigest()
            if len(self.recent_responses) < 200:
                self.recent_responses.append(response_hash)
        event = {
            "schema_version": "1.1" if rng.random() < 0.7 else "1.0",
            "event_id": f"e_{hashlib.blake2b(f'{o.seed}-{self.seq}'.encode(), digest_size=10).hexdigest()}",
            "session_id": session_id, "user_id": user, "timestamp": ts, "feature_id": feature,
            "model_id": model, "model_version": version, "routing_strategy": routing,
            "ttft_ms": round(ttft, 1), "total_latency_ms": round(latency, 1),
            "stream_chunks_received": max(1, completion // 4), "prompt_tokens": prompt,
            "completion_tokens": completion, "cached_tokens": cached, "estimated_cost_usd": round(cost, 8),
            "user_regenerated": regenerated, "user_edited_output": edited, "explicit_rating": rating,
            "implicit_quality_score": round(producer_quality(regenerated, edited, latency, prompt, completion), 4),
        }
        if event["schema_version"] == "1.1":
            event.update(provider=MODELS[model][0], response_hash=response_hash,
                         prompt_hash=hashlib.blake2b(f"p{self.seq}".encode(), digest_size=8).hexdigest(),
                         trace_id=session_id, is_error=False)
            if self.seq % 3:  # two in three of these producers moved to 1.2; the others still write 1.1
                event.update(schema_version="1.2", tags=synthetic_tags(user, feature, session_id),
                             prompt_version=PROMPT_VERSIONS[_pick(session_id + "prompt", 2)])
        return event


def _break(event: dict[str, Any], rule_kind: int, rng: random.Random, now_ms: int) -> tuple[Any, str]:
    """Return (a line's content, the rule it breaks) for one planted contract violation."""
    e = dict(event)
    kinds = [
        (lambda: (orjson.dumps(e).decode()[:-7] + "{", c.RULE_MALFORMED_JSON)),
        (lambda: (e.pop("session_id") and orjson.dumps(e).decode(), c.rule_required("session_id"))),
        (lambda: (e.update(prompt_tokens=str(e["prompt_tokens"])) or orjson.dumps(e).decode(),
                  c.rule_type("prompt_tokens"))),
        (lambda: (e.update(schema_version="0.9") or orjson.dumps(e).decode(), c.RULE_UNSUPPORTED_VERSION)),
        (lambda: (e.update(implicit_quality_score=1.7) or orjson.dumps(e).decode(),
                  c.rule_range("implicit_quality_score"))),
        (lambda: (e.update(ttft_ms=e["total_latency_ms"] + 250) or orjson.dumps(e).decode(),
                  "ttft_le_latency")),
        (lambda: (e.update(cached_tokens=e["prompt_tokens"] + 10) or orjson.dumps(e).decode(),
                  "cached_le_prompt")),
        (lambda: (e.update(timestamp=now_ms + 3650 * 86_400_000) or orjson.dumps(e).decode(),
                  c.RULE_TIMESTAMP_PLAUSIBLE)),
        (lambda: (e.update(routing_strategy="random") or orjson.dumps(e).decode(), c.rule_allowed("routing_strategy"))),
        (lambda: ("[1, 2, 3]", c.RULE_NOT_AN_OBJECT)),
        (lambda: (e.update(completion_tokens=-5) or orjson.dumps(e).decode(), c.rule_range("completion_tokens"))),
        (lambda: (e.update(event_id="") or orjson.dumps(e).decode(), c.rule_required("event_id"))),
    ]
    line, rule = kinds[rule_kind % len(kinds)]()
    del rng
    return line, rule


def _interleave(clean: list[tuple[str, str]], bad: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`clean` with the `bad` lines spread evenly through it, both in their own order."""
    if not bad:
        return clean
    out: list[tuple[str, str]] = []
    every = len(clean) / len(bad)
    placed = 0
    for i, item in enumerate(clean):
        while placed < len(bad) and placed * every <= i:
            out.append(bad[placed])
            placed += 1
        out.append(item)
    out.extend(bad[placed:])
    return out


def _pieces(lines: list[tuple[str, str]], day: int, files_per_day: int, mix: str) -> list[list[tuple[str, str]]]:
    """One landing day's lines cut into `files_per_day` files, the contract violations placed by `mix`."""
    if mix == "uniform":
        chunk = math.ceil(len(lines) / files_per_day) or 1
        return [lines[part * chunk:(part + 1) * chunk] for part in range(files_per_day)]
    clean = [line for line in lines if line[1] in _NOT_VIOLATIONS]
    bad = [line for line in lines if line[1] not in _NOT_VIOLATIONS]
    chunk = math.ceil(len(clean) / files_per_day) or 1
    pieces = [clean[part * chunk:(part + 1) * chunk] for part in range(files_per_day)]
    filled = [part for part, piece in enumerate(pieces) if piece] or [0]
    broken = filled[day % len(filled)]  # the broken producer's file moves from day to day
    pieces[broken] = _interleave(pieces[broken], bad)
    return pieces


def _write_day(layout: Layout, day_name: str, lines: list[tuple[str, str]], day: int, opts: Options, mix: str,
               gen: Generation, count: bool) -> None:
    """Write one landing day's files for one mix; `count` adds the lines to the ground truth (once per line)."""
    day_dir = layout.landing_dir("native") / day_name
    day_dir.mkdir(parents=True, exist_ok=True)
    for part, piece in enumerate(_pieces(lines, day, opts.files_per_day, mix)):
        if not piece:
            continue
        path = day_dir / f"events-{opts.seed}-{part:03d}.ndjson"
        tmp = path.with_name("." + path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(line for line, _ in piece) + "\n")
        tmp.replace(path)  # the loader never sees half a file
        gen.files_by_mix.setdefault(mix, []).append(path)
        gen.violations_per_file[path] = sum(1 for _line, truth in piece if truth not in _NOT_VIOLATIONS)
        if not count:
            continue
        for _line, truth in piece:
            gen.lines += 1
            if truth == "duplicate":
                gen.duplicates += 1
            elif truth not in ("valid", "feedback"):
                gen.planted[truth] += 1


def generate(layout: Layout, opts: Options, keep_records: bool = False,
             also: Mapping[str, Layout] | None = None) -> Generation:
    """Write synthetic landing files and return the ground truth of what they contain.

    `layout` gets the file mix `opts.mix`; `also` maps other mixes to the layouts that get them, written
    from the same events (the ground truth counts are the same for every mix). Each day is written as
    soon as it is complete, so memory holds about two days of lines, not the whole history.
    """
    mixes = {opts.mix: layout, **(also or {})}
    for mix in mixes:
        if mix not in MIXES:
            raise ValueError(f"unknown file mix {mix!r}: one of {', '.join(MIXES)}")
    if "producer" in mixes and opts.files_per_day < 2:
        raise ValueError("the producer mix concentrates a day's contract violations in one of the day's files: "
                         "it needs files_per_day >= 2")
    rng = random.Random(opts.seed)
    end = opts.end_date or dt.datetime.now(dt.UTC).date()
    start = end - dt.timedelta(days=opts.days - 1)
    now_ms = int(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp() * 1000)
    reg = opts.regression
    if reg.from_day == 0:
        reg = Regression(**{**reg.__dict__, "from_day": opts.days // 2})
    opts = Options(**{**opts.__dict__, "regression": reg})
    builder = _Builder(opts, rng)
    gen = Generation(regression_version=f"{reg.model_id}@{reg.new_version}",
                     regression_day=(start + dt.timedelta(days=reg.from_day)).isoformat(),
                     whale_user=opts.whale_user)
    spike_day = opts.spike.day(opts.days) if opts.spike is not None else None
    if spike_day is not None:
        gen.spike_feature, gen.spike_day = opts.spike.feature, (start + dt.timedelta(days=spike_day)).isoformat()
    per_day = max(1, opts.events // opts.days)
    # lines per landing day: (line, truth) with truth in {"valid", "feedback", "duplicate", <rule>}. Generating
    # day d adds lines to landing days d and d + 1 only (late events, late feedback), so day d is complete
    # when day d has been generated.
    landing: dict[int, list[tuple[str, str]]] = {d: [] for d in range(opts.days)}
    recent: list[tuple[dict[str, Any], int]] = []  # (valid event, day it landed): twins for conflicts
    bad_kind = 0
    for day in range(opts.days):
        day_start = int(dt.datetime.combine(start + dt.timedelta(days=day), dt.time(),
                                            dt.UTC).timestamp() * 1000)
        produced = 0
        target = per_day if day < opts.days - 1 else opts.events - per_day * (opts.days - 1)
        whale_sessions = opts.whale_sessions_per_day
        while produced < target:
            for event in builder.session(day, day_start, whale=whale_sessions > 0):
                if produced >= target:
                    break
                produced += 1
                land_day = day + 1 if (rng.random() < opts.late_share and day + 1 < opts.days) else day
                r = rng.random()
                if r < opts.bad_share:
                    line, rule = _break(event, bad_kind, rng, now_ms)
                    bad_kind += 1
                    landing[land_day].append((line, rule))
                    continue
                earlier = [e for e, landed in recent if landed <= land_day]
                if r < opts.bad_share + opts.conflict_share and earlier:
                    # Only twins of events already landed, so the original is always loaded first.
                    twin = dict(rng.choice(earlier))
                    twin["total_latency_ms"] = twin["total_latency_ms"] + 1.0  # same id, other content
                    landing[land_day].append((orjson.dumps(twin).decode(), c.RULE_DUPLICATE_CONFLICT))
                    continue
                if event["explicit_rating"] and event["schema_version"] != "1.0" \
                        and rng.random() < opts.late_feedback_share:
                    # The rating arrives later, as its own record, in the next day's file when there is one.
                    rating, event["explicit_rating"] = event["explicit_rating"], None
                    feedback = {"record_type": "feedback", "schema_version": "1.1",
                                "feedback_id": "f_" + event["event_id"][2:], "target_event_id": event["event_id"],
                                "timestamp": event["timestamp"] + 90_000, "kind": "rating", "rating": rating}
                    landing[min(day + 1, opts.days - 1)].append((orjson.dumps(feedback).decode(), "feedback"))
                    gen.valid_feedback += 1
                    if keep_records:
                        gen.valid_feedback_records.append(feedback)
                line = orjson.dumps(event).decode()
                landing[land_day].append((line, "valid"))
                gen.valid_interactions += 1
                if keep_records:
                    gen.valid_records.append(event)
                if len(recent) < 500:
                    recent.append((event, land_day))
                if rng.random() < opts.duplicate_share:
                    landing[land_day].append((line, "duplicate"))  # a retry: same bytes again
            whale_sessions -= 1
        lines = landing.pop(day)  # complete: later days never land lines on an earlier day
        day_name = (start + dt.timedelta(days=day)).isoformat()
        for n, (mix, mix_layout) in enumerate(mixes.items()):
            _write_day(mix_layout, day_name, lines, day, opts, mix, gen, count=n == 0)
    gen.files = gen.files_by_mix.get(opts.mix, [])
    return gen
