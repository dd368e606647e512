"""Timestamps as the wire writes them: ISO 8601 UTC with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def iso(epoch_s: float) -> str:
    """``2026-01-05T08:00:00.123Z`` (milliseconds, UTC)."""
    moment = datetime.fromtimestamp(epoch_s, UTC)  # %Y does not pad years before 1000
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def whole_seconds(epoch_s: float) -> str:
    """``epoch_s`` to the second below, fixed width (``2026-01-05T08:00:00Z``): instants
    compared as text in SQL (sessions, chart windows) sort as they should."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> float:
    """Seconds since the epoch of a wire timestamp (up to 9 decimals, truncated to 6)."""
    body = text.removesuffix("Z")
    whole, _, fraction = body.partition(".")
    seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return seconds + (int(fraction[:6].ljust(6, "0")) / 1e6 if fraction else 0.0)


def instant(text: object) -> datetime | None:
    """The aware UTC instant a stored time names, or None when it names none.

    What the store holds is not always a real instant: a hub older than the
    contract's checks stored 2026-02-30, hour 25 or year 0000 as sent. The
    pages read times through here (or :func:`wall`) so that such a record is
    shown as written rather than taking the page down."""
    if not isinstance(text, str) or not text.isascii():  # strptime reads any script's digits
        return None
    whole, _, fraction = text.removesuffix("Z").partition(".")
    if fraction and not (fraction.isdigit() and fraction.isascii()):
        return None
    try:
        moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    # Under a second more never leaves the year (23:59:59.999999 is the largest instant).
    return moment.replace(microsecond=int(fraction[:6].ljust(6, "0"))) if fraction else moment


def stamp(moment: datetime) -> str:
    """An aware instant as the wire writes it (``0001-01-05T08:00:00.000Z``), for any year
    1-9999: unlike :func:`iso`, no trip through epoch seconds (which rounds past the ends)."""
    m = moment.astimezone(UTC)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
            f"{m.second:02d}.{m.microsecond // 1000:03d}Z")


def wall(text: object, zone: tzinfo, seconds: bool = True) -> str:
    """A stored UTC time as wall time in ``zone`` (``2026-01-05 09:00:05``) for a page.

    A text that names no instant is shown as it is stored; an instant whose local date
    falls outside years 1-9999 (the first hour of year 1, the last of 9999) in UTC, said so;
    so is one before 1900, for which the zone has no rule but local mean time (Paris's
    +0:09:21 would show a box's clock at year 1 nine minutes off what it stamped).
    """
    moment = instant(text)
    if moment is None:
        return "" if text is None else str(text)
    try:
        local, suffix = moment.astimezone(zone), ""
    except (OverflowError, ValueError):
        local, suffix = moment, " UTC"
    if moment.year < 1900:
        local, suffix = moment, " UTC"
    shown = (f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
             f"{local.hour:02d}:{local.minute:02d}")
    return shown + (f":{local.second:02d}" if seconds else "") + suffix
