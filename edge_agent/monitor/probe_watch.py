"""The dose-rate side of the monitor: probe health and the two statistical detectors.

This keeps the state the probe rules of :mod:`edge_agent.monitor.rules` read;
it raises nothing itself. The rise detector (``radiation_without_emission``)
is fed only counting windows that lie wholly outside emission and its
hold-off, so a window straddling an emission edge never raises it.
``probe_fault`` holds while any of :attr:`ProbeWatch.causes` does: no valid
data, a fault the probe reports (HV, counter overflow), saturation lasting
with no emission, or a tube that has given no pulse at all for too long.
"""

from __future__ import annotations

from edge_agent.config import YEAR_S, Rules
from edge_agent.dose.detector import HighRateDetector, RiseDetector
from edge_agent.dose.tube import Calibration
from edge_agent.probe.sample import ProbeSample

#: How far past a deadline the monitor asks to be woken (a grace is to be exceeded, not met).
EPS = 1e-3


class ProbeWatch:
    """The probe's side of the room: its detectors' verdicts and the causes of a fault,
    which the probe rules of :mod:`edge_agent.monitor.rules` read."""

    def __init__(
        self,
        rules: Rules,
        calibration: Calibration,
        background_usv_h: float,
        position: str,
        frame_s: float,
        start: float,
    ) -> None:
        self.rules = rules
        self.cal = calibration
        self.frame_s = frame_s
        mtbfa = rules.false_alarm_interval_years * YEAR_S
        self.rise = RiseDetector(calibration, background_usv_h, frame_s=frame_s, mtbfa_s=mtbfa)
        self.high = HighRateDetector(
            calibration, rules.dose_rate_alarm(position), frame_s=frame_s, mtbfa_s=mtbfa
        )
        self.last_valid = start
        self.last_count = start
        self.saturated_since: float | None = None
        #: Each probe fault cause holding, with since when.
        self.causes: dict[str, float] = {}
        #: Since when each detector has said so (None: it does not).
        self.rise_since: float | None = None
        self.high_since: float | None = None
        #: Counts the changes of what the rules read here (the causes, the detectors' since):
        #: unchanged, the monitor's last judgement of the probe still holds.
        self.version = 0

    # -- samples -----------------------------------------------------------------

    def on_sample(
        self,
        sample: ProbeSample,
        quiet: bool,
        emitting: bool,
        saturated: bool | None = None,
    ) -> None:
        """Take one valid sample; ``quiet`` says it lies wholly outside emission and hold-off
        (``saturated``: the tube's verdict on its rate, when the caller has it already)."""
        self.last_valid = sample.end
        healthy = sample.hv_ok and sample.fault is None
        if self.causes or not healthy:  # else nothing below to add or drop
            self._drop("no_data")
            self._flag("hv", not sample.hv_ok, sample.end)
            self._flag("probe_reported", sample.fault is not None, sample.end)
            if sample.counts:
                self._drop("silence")
        if sample.counts:
            self.last_count = sample.end
        if saturated is None:
            saturated = self.cal.is_saturated(sample.counts / sample.duration)
        if saturated or self.saturated_since is not None or self.causes:
            self._saturation(sample, emitting, saturated)
        if healthy:
            self._statistics(sample, quiet)

    def _flag(self, cause: str, on: bool, at: float) -> None:
        if on:
            self._hold(cause, at)
        else:
            self._drop(cause)

    def _hold(self, cause: str, since: float) -> None:
        """``cause`` holds, since ``since`` if it did not already."""
        if cause not in self.causes:
            self.causes[cause] = since
            self.version += 1

    def _drop(self, cause: str) -> None:
        if cause in self.causes:
            del self.causes[cause]
            self.version += 1

    def _saturation(self, sample: ProbeSample, emitting: bool, saturated: bool) -> None:
        if not saturated or emitting:
            self.saturated_since = None
            self._drop("saturation")
        elif self.saturated_since is None:
            self.saturated_since = sample.end - sample.duration

    def _statistics(self, sample: ProbeSample, quiet: bool) -> None:
        if quiet:
            verdict = self.rise.update(sample.counts, sample.duration)
            if verdict == "raised":
                self.rise_since = sample.end
                self.version += 1
            elif verdict == "cleared":
                self.rise_since = None
                self.version += 1
        else:
            self.rise.pause()
        verdict = self.high.update(sample.counts, sample.duration)
        if verdict == "raised":
            self.high_since = sample.end
            self.version += 1
        elif verdict == "cleared":
            self.high_since = None
            self.version += 1

    # -- time --------------------------------------------------------------------

    def tick(self, asof: float) -> None:
        """Add the time-out causes that ``asof`` has reached."""
        if asof > self.last_valid + self.frame_s + self.rules.probe_timeout_s:
            self._hold("no_data", self.last_valid + self.frame_s)
        if asof > self.last_count + self.rules.probe_silence_s:
            self._hold("silence", self.last_count)
        if (
            self.saturated_since is not None
            and asof > self.saturated_since + self.rules.probe_timeout_s
        ):
            self._hold("saturation", self.saturated_since)

    def next_deadline(self) -> float | None:
        """When the next time-out cause would start, among those not holding yet."""
        causes, rules = self.causes, self.rules
        best: float | None = None
        if "no_data" not in causes:
            best = self.last_valid + self.frame_s + rules.probe_timeout_s + EPS
        if "silence" not in causes:
            t = self.last_count + rules.probe_silence_s + EPS
            best = t if best is None else min(best, t)
        if self.saturated_since is not None and "saturation" not in causes:
            t = self.saturated_since + rules.probe_timeout_s + EPS
            best = t if best is None else min(best, t)
        return best
