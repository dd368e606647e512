"""Timestamps as the wire writes them: ISO 8601 UTC with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch_s: float) -> str:
    """``2026-01-05T08:00:00.123Z`` (milliseconds, UTC)."""
    text = datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[:-3] + "Z"


def parse(text: str) -> float:
    """Seconds since the epoch of a wire timestamp (up to 9 decimals, truncated to 6)."""
    body = text.removesuffix("Z")
    whole, _, fraction = body.partition(".")
    seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return seconds + (int(fraction[:6].ljust(6, "0")) / 1e6 if fraction else 0.0)
