"""The collector's options mount on a parent CLI (`aiw collector`) and turn into settings."""

from __future__ import annotations

import argparse

import pytest

from ingestion.collector.server import add_arguments, settings_from


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aiw")
    sub = parser.add_subparsers(dest="command", required=True)
    add_arguments(sub.add_parser("collector"))
    return parser.parse_args(["collector", *argv])


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("AIW_COLLECTOR_ROTATE_SECONDS", "5")
    monkeypatch.setenv("AIW_COLLECTOR_TOKEN", "a-long-enough-test-token")
    monkeypatch.setenv("AIW_HOME", str(tmp_path))
    args = _parse(["--max-body-bytes", "1000"])
    assert (args.host, args.port, args.insecure_dev) == ("127.0.0.1", 4318, False)
    settings = settings_from(args)
    assert (settings.max_body_bytes, settings.rotate_seconds, settings.token) == (1000, 5.0, "a-long-enough-test-token")
    assert str(settings.home) == str(tmp_path)


def test_no_token_needs_insecure_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIW_COLLECTOR_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="AIW_COLLECTOR_TOKEN"):
        settings_from(_parse([]))
    assert settings_from(_parse(["--insecure-dev"])).token is None
    with pytest.raises(SystemExit, match="must be positive"):
        settings_from(_parse(["--insecure-dev", "--rotate-bytes", "0"]))
