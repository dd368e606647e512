"""Dose-rate readings: probe samples summarised every ``reading_interval_s``.

A reading says what was measured and how well: counts, the dead-time
corrected mean and the highest one-second mean with their Poisson
uncertainty, the calibration used, the saturation flag, and how much of the
interval the probe covered (frames lost are never filled in).

An interval in which the probe sent nothing covers 0 s and has no rates
(None: no data), never NaN. At saturation the Poisson uncertainty has no
bound: it is given as the wire contract's largest dose rate, with
``saturated`` set; no rate ever exceeds that maximum (far above what a GM
tube can measure), so every reading the monitor makes is one the contract
accepts.
"""

from __future__ import annotations

from collections import deque

from edge_agent.dose.tube import Calibration, rate_with_uncertainty
from edge_agent.monitor.records import Reading
from edge_agent.probe.sample import ProbeSample
from wire.records import MAX_CPM, MAX_DOSE_RATE_USV_H

#: Most remembered answers of :func:`rate_with_uncertainty` (forgotten all at once beyond).
RATE_CACHE = 4096


class OneSecondMean:
    """The mean dose rate over the last second of samples (for maxima)."""

    def __init__(self, calibration: Calibration) -> None:
        self._cal = calibration
        self._window: deque[ProbeSample] = deque()
        self._counts = 0
        self._seconds = 0.0
        #: Answers of the pure :func:`rate_with_uncertainty` by (counts, seconds): a quiet
        #: room's window takes few values, ten times a second.
        self._rates: dict[tuple[int, float], tuple[float, float]] = {}

    def add(self, sample: ProbeSample) -> tuple[float, float]:
        """Add a sample; returns (µSv/h, sigma) over the samples of the last second."""
        self._window.append(sample)
        self._counts += sample.counts
        self._seconds += sample.duration
        while self._window and self._window[0].end <= sample.end - 1.0 + 1e-6:
            old = self._window.popleft()
            self._counts -= old.counts
            self._seconds -= old.duration
        args = (self._counts, max(self._seconds, 1e-9))
        rate = self._rates.get(args)
        if rate is None:
            if len(self._rates) >= RATE_CACHE:
                self._rates.clear()
            rate = self._rates[args] = rate_with_uncertainty(*args, self._cal)
        return rate


class ReadingAccumulator:
    """Collects samples into consecutive readings aligned on the agent's start."""

    def __init__(
        self, calibration: Calibration, interval_s: float, start: float, frame_s: float
    ) -> None:
        self._cal = calibration
        self.interval_s = interval_s
        self.frame_s = frame_s
        self._start = start
        self._index = 1
        #: The end of the interval being filled (kept: read at every sample).
        self.next_end = start + interval_s
        self._reset()

    def _reset(self) -> None:
        self._counts = 0
        self._seconds = 0.0
        self._dose = 0.0
        self._frames = 0
        self._lost = 0
        self._max = (0.0, 0.0)
        self._saturated = False

    def add(self, sample: ProbeSample, one_s: tuple[float, float], dose_usv: float,
            saturated: bool | None = None) -> None:
        """Add a sample (``saturated``: the tube's verdict on its rate, if known already)."""
        self._counts += sample.counts
        self._seconds += sample.duration
        self._dose += dose_usv
        self._frames += 1
        self._lost += sample.lost_before
        if one_s[0] > self._max[0]:
            self._max = one_s
        if saturated is None:
            saturated = self._cal.is_saturated(sample.counts / sample.duration)
        if saturated:
            self._saturated = True

    def due(self, asof: float) -> bool:
        return asof >= self.next_end

    def emit(self) -> Reading:
        """The reading of the interval ending at :attr:`next_end`; starts the next one."""
        end = self.next_end
        covered = round(self._seconds, 6)
        cpm = mean = sigma = max_rate = max_sigma = None
        if covered > 0 and self._frames:
            mean, sigma = _bounded(
                rate_with_uncertainty(self._counts, self._seconds, self._cal))
            max_rate, max_sigma = _bounded(self._max)
            cpm = min(self._counts * 60.0 / self._seconds, MAX_CPM)
        else:
            covered = 0.0  # no valid probe data: no rates
        reading = Reading(
            start=end - self.interval_s,
            end=end,
            counts=self._counts,
            seconds_covered=covered,
            cpm=cpm,
            dose_usv=self._dose,
            mean_usv_h=mean,
            mean_sigma_usv_h=sigma,
            max_usv_h=max_rate,
            max_sigma_usv_h=max_sigma,
            saturated=self._saturated,
            calibration=self._cal.name,
            frames=self._frames,
            frames_lost=self._lost,
        )
        self._index += 1
        self.next_end = self._start + self._index * self.interval_s
        self._reset()
        return reading


def _bounded(rate: tuple[float, float]) -> tuple[float, float]:
    """A rate and its sigma within the contract's bounds (an unbounded sigma at saturation
    becomes the largest dose rate the contract carries)."""
    value, sigma = rate
    return min(value, MAX_DOSE_RATE_USV_H), min(sigma, MAX_DOSE_RATE_USV_H)
