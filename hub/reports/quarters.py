"""Calendar quarters in Europe/Paris, the periods of the quarterly ambient reports.

``2026-Q1`` runs from 1 January 00:00 Paris to 1 April 00:00 Paris, converted to UTC: a
quarter holding a change of time has an hour more or less.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from hub.messages import N_
from hub.reports.points import PointError
from hub.workdays import PARIS

QUARTER_RE: Final = re.compile(r"^(\d{4})-Q([1-4])$")


class ReportError(PointError):
    """A refused value or action (``status``: 404, 409 for a signed report, else 422)."""


@dataclass(frozen=True, slots=True)
class Quarter:
    year: int
    q: int

    @property
    def code(self) -> str:
        return f"{self.year}-Q{self.q}"

    def bounds(self) -> tuple[int, int]:
        """(start, end) in seconds since the epoch: Paris midnights, as UTC instants."""
        return _paris_month_start(self.year, 3 * self.q - 2), self.next().bounds_start()

    def bounds_start(self) -> int:
        return _paris_month_start(self.year, 3 * self.q - 2)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.q == 4 else Quarter(self.year, self.q + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)


def _paris_month_start(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=PARIS).timestamp())


def parse_quarter(text: str) -> Quarter:
    match = QUARTER_RE.match(text.strip())
    if match is None or not 2000 <= int(match.group(1)) <= 2200:
        raise ReportError("quarter", N_("A quarter is written like 2026-Q1."))
    return Quarter(int(match.group(1)), int(match.group(2)))


def quarter_of(moment: datetime) -> Quarter:
    local = moment.astimezone(PARIS)
    return Quarter(local.year, (local.month - 1) // 3 + 1)


def last_ended_quarter(now: datetime) -> Quarter:
    return quarter_of(now).previous()
