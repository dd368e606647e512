"""Zoning from ambient readings: net dose, the sliding hour, the zone, its verdict.

Pure functions over a quarter's readings (:class:`Reading`, read by
:mod:`hub.reports.zoning_data`), the generator's powered and emitting spans, and
the point's settings. The method (``METHOD``, stated in every report):

- **Natural background is not dose from the installation.** It is subtracted in
  *count rate*, before the beam-quality calibration: a GM tube answers
  background and 60 kV scatter differently, so a background in µSv/h under the
  X-ray calibration would be wrong. The rate is the point's configured value,
  else the median count rate of the quarter's hours with the generator
  unpowered (hours without emission where the box journals no generator state).
  Each reading's net dose is ``dose − background_cps × seconds × u``, ``u`` the
  calibration's µSv per count (the median ratio over its unsaturated readings:
  at background rates dead time is negligible). Net figures stay signed; a
  month's net total is clipped at 0.
- **"En une heure" is any 60-minute window**, not a clock hour: the largest net
  dose over the readings lying within one hour from any reading's start
  (sliding), the conservative reading, with when it happened.
- The month's zone is the most restrictive of the monthly criteria (its net
  dose) and the hourly ones (its largest window), and says which set it.
- A zone from saturated readings, an incomplete month or hours without data is
  a **lower bound**; one from a calibration not meant for X-ray scatter is
  **indicative**. The verdict against the declared zone follows from these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hub.reports import points as pts

#: The zoning method of reports prepared since issue 15 (1: before, clock hours, gross).
METHOD: Final = 2
HOUR_S: Final = 3600.0
#: An hour counts for the background median when the probe covered at least this much of it.
BACKGROUND_MIN_COVERED_S: Final = 1800.0
#: The highest natural background a measured one may be (µSv/h; DOMAIN.md: about 0.05 to
#: 0.3). A site above it (granite) configures its points' background.
NATURAL_MAX_USV_H: Final = 0.3
#: Longer without any reading, and a signed report does not stand as the verification.
MAX_GAP_S: Final = 24 * 3600.0

Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]
Spans = Sequence[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Readings:
    """A quarter's readings as columns, by start (times in seconds since the epoch);
    ``peak`` is NaN where a reading gave none, ``cal`` indexes ``calibrations``."""

    start: Floats
    end: Floats
    counts: Floats
    seconds: Floats
    dose: Floats
    peak: Floats
    saturated: Flags
    cal: npt.NDArray[np.int64]
    calibrations: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.start)


def merged(spans: Spans) -> list[tuple[float, float]]:
    """Spans sorted and merged where they meet: their ends then increase too."""
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def in_spans(r: Readings, spans: Spans) -> Flags:
    """For each reading, whether it meets or touches a span."""
    joined = merged(spans)
    if not joined or not len(r):
        return np.zeros(len(r), dtype=bool)
    firsts = np.array([a for a, _ in joined])
    lasts = np.array([b for _, b in joined])
    k = np.searchsorted(lasts, r.start, side="left")  # the first span not ended before
    inside = k < len(joined)
    hit = np.zeros(len(r), dtype=bool)
    hit[inside] = firsts[k[inside]] < r.end[inside]
    return hit


def units_per_count(r: Readings) -> dict[int, float]:
    """Each calibration's µSv per count: the median dose/counts of its unsaturated readings
    (mostly background, where dead time is negligible)."""
    usable = (r.counts > 0) & ~r.saturated & (r.dose > 0)
    out: dict[int, float] = {}
    for code in range(len(r.calibrations)):
        mask = usable & (r.cal == code)
        if mask.any():
            out[code] = float(np.median(r.dose[mask] / r.counts[mask]))
    return out


def background(r: Readings, configured_cpm: float | None, powered: Spans | None,
               emitting: Spans) -> dict[str, Any]:
    """The count rate to subtract, how it was found and over how many hours.

    The median of the hours with the generator unpowered; where the box journals no
    generator state, or the generator was never off for a whole hour (left powered, or an
    input stuck), of the hours without any emission (said in ``method``); with neither,
    nothing is subtracted (``none``: the zone is then an upper bound).
    """
    if configured_cpm is not None:
        return {"method": "configured", "cpm": configured_cpm, "hours": 0}
    if not len(r):
        return {"method": "none", "cpm": None, "hours": 0}
    hour = np.floor(r.start / HOUR_S).astype(np.int64)
    keys, index = np.unique(hour, return_inverse=True)
    counts = np.bincount(index, weights=r.counts)
    seconds = np.bincount(index, weights=r.seconds)
    saturated = np.bincount(index, weights=r.saturated.astype(float)) > 0
    usable = (seconds >= BACKGROUND_MIN_COVERED_S) & ~saturated
    for method, spans in (("unpowered_median", powered), ("no_emission_median", emitting)):
        if spans is None:
            continue
        busy = np.array(sorted(hours_touched(spans)), dtype=np.int64)
        quiet = usable & ~np.isin(keys, busy)
        if quiet.any():
            rates = 60.0 * counts[quiet] / seconds[quiet]
            return {"method": method, "cpm": float(np.median(rates)),
                    "hours": int(quiet.sum())}
    return {"method": "none", "cpm": None, "hours": 0}


def capped(bg: dict[str, Any], units: Mapping[int, float]) -> dict[str, Any]:
    """A measured background no higher than natural background can be
    (:data:`NATURAL_MAX_USV_H` under each calibration): what the quiet hours measure above
    it is a field (a neighbouring room, a source), not nature, and is not subtracted. The
    zone is then a lower bound. A configured background is the site's word: kept."""
    if bg["method"] in ("configured", "none") or not units:
        return {**bg, "capped": False}
    most = min(NATURAL_MAX_USV_H / (60.0 * u) for u in units.values() if u > 0)
    if bg["cpm"] <= most:
        return {**bg, "capped": False}
    return {**bg, "measured_cpm": bg["cpm"], "cpm": most, "capped": True}


def long_gaps(r: Readings, before: float, after: float) -> list[tuple[float, float]]:
    """Every stretch longer than :data:`MAX_GAP_S` without any reading, from ``before``
    (the end of the last reading before the quarter, or its start) to ``after`` (the first
    reading after it, or its end), in seconds: not whole clock hours, where one reading
    makes an hour count as covered."""
    reach = np.maximum.accumulate(np.concatenate(([before], r.end)))
    starts = np.concatenate((r.start, [after]))
    wide = np.flatnonzero(starts - reach > MAX_GAP_S)
    return [(float(reach[i]), float(starts[i])) for i in wide]


def hours_touched(spans: Spans) -> set[int]:
    """The hours (since the epoch) that any span meets or touches."""
    return {h for a, b in merged(spans)
            for h in range(int(a // HOUR_S), int(b // HOUR_S) + 1)}


def net_doses(r: Readings, cpm: float | None, units: Mapping[int, float]) -> Floats:
    """Each reading's dose minus the background's, signed (µSv)."""
    if not cpm:
        return r.dose.copy()
    per_count = np.array([units.get(code, 0.0) for code in range(len(r.calibrations))])
    return r.dose - cpm / 60.0 * r.seconds * per_count[r.cal] if len(r) else r.dose.copy()


def background_usv_h(cpm: float | None, units: Mapping[int, float]) -> float | None:
    """The background's dose rate under the calibration in use (for the reader only)."""
    if cpm is None or len(units) != 1:
        return None
    return cpm * 60.0 * next(iter(units.values()))


@dataclass(frozen=True, slots=True)
class Windows:
    """For each reading as a window's start: the window's net dose and its end."""

    dose: Floats
    end: Floats


def sliding_hour(r: Readings, net: Floats, keep: Flags | None = None) -> Windows:
    """For each reading ``i``, the net dose of the readings from ``i`` that end within one
    hour of its start (prefix sums; a reading longer than an hour counts alone, scaled to
    one hour). ``keep`` leaves readings out of the sums (they break no window)."""
    values = net if keep is None else np.where(keep, net, 0.0)
    prefix = np.concatenate(([0.0], np.cumsum(values)))
    reach = np.maximum.accumulate(r.end) if len(r) else r.end
    j = np.searchsorted(reach, r.start + HOUR_S + 1e-6, side="right")
    idx = np.arange(len(r))
    alone = j <= idx
    j = np.maximum(j, idx + 1)
    dose = prefix[j] - prefix[idx]
    longer = np.maximum(r.end - r.start, HOUR_S)
    dose = np.where(alone, values * HOUR_S / longer, dose)
    end = np.where(alone, r.start + HOUR_S, r.end[j - 1] if len(r) else r.end)
    return Windows(dose, end)


def zone_of(month_net_usv: float, window_usv: float, values: Mapping[str, float]
            ) -> tuple[str, str]:
    """(zone, criterion that set it: ``month`` or ``hour``) for a month's figures."""
    return pts.classify(max(month_net_usv, 0.0), max(window_usv, 0.0), dict(values))


def rank(zone: str) -> int:
    return pts.ZONE_CODES.index(zone)


def declared_limit(declared: Mapping[str, str]) -> str | None:
    """The zone the month as a whole is compared with: the most restrictive declared."""
    zones = [z for z in declared.values() if z in pts.ZONE_CODES]
    return max(zones, key=rank) if zones else None


def verdict(zone: str | None, declared: str | None, lower_bound: bool, indicative: bool,
            upper_bound: bool = False) -> tuple[str | None, list[str]]:
    """Consistent, not consistent or undetermined (art. 12 of the order of 23 October
    2020: the zones stay consistent with the delimitation), and why.

    A lower bound above the declared zone still shows it is exceeded; one below it
    cannot show it is respected. An upper bound (no background subtracted) below it shows
    it is respected; above it, it cannot show it is exceeded. A calibration not for X-ray
    scatter decides nothing.
    """
    if declared is None:
        return None, []
    if zone is None:
        return "undetermined", ["no_data"]
    if rank(zone) > rank(declared):
        if indicative:
            return "undetermined", ["indicative_calibration"]
        if upper_bound:
            return "undetermined", ["background_not_subtracted"]
        return "not_consistent", ["above_declared"]
    reasons = (["lower_bound_below_declared"] if lower_bound else []) + (
        ["indicative_calibration"] if indicative else [])
    return ("undetermined", reasons) if reasons else ("consistent", [])
