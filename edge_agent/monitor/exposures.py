"""Exposures and procedures from the emission signal.

An exposure is one period of the emission signal; pulses separated by less
than the merge gap (pulsed fluoroscopy) are one exposure, so an exposure is
closed only once the gap has passed with emission off. A procedure is a run
of exposures separated by less than ``procedure_gap_s``; its cumulative
emission time is what the HAS 60-minute fluoroscopy threshold is about.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.monitor.records import ExposureRecord


@dataclass(slots=True)
class Procedure:
    number: int
    closed_emission_s: float = 0.0
    last_end: float | None = None


class ExposureTracker:
    """Turns debounced emission edges into exposure records."""

    def __init__(self, merge_gap_s: float, procedure_gap_s: float) -> None:
        self.merge_gap_s = merge_gap_s
        self.procedure_gap_s = procedure_gap_s
        self.current: ExposureRecord | None = None
        self.emission_on = False
        self.last_off = float("-inf")
        self.released_at: float | None = None
        self.procedure: Procedure | None = None
        self._numbers = 0
        self._procedures = 0

    def rise(self, at: float, requested: bool, resumed: bool = False) -> ExposureRecord | None:
        """Emission went on at ``at``; returns the new exposure, or None if a pulse merged."""
        self.emission_on = True
        if self.current is not None:
            self.current.pulses += 1
            return None
        if self.procedure is None:
            self._procedures += 1
            self.procedure = Procedure(self._procedures)
        self._numbers += 1
        self.released_at = None
        self.current = ExposureRecord(
            self._numbers, at, requested, self.procedure.number, resumed=resumed
        )
        return self.current

    def fall(self, at: float) -> None:
        self.emission_on = False
        self.last_off = at

    def close_due(self, asof: float) -> bool:
        return (
            self.current is not None
            and not self.emission_on
            and asof >= self.last_off + self.merge_gap_s
        )

    def close(self) -> ExposureRecord:
        """Close the current exposure at its last emission edge."""
        exposure = self.current
        assert exposure is not None and self.procedure is not None
        exposure.end = self.last_off
        self.procedure.closed_emission_s += exposure.end - exposure.start
        self.procedure.last_end = exposure.end
        self.current = None
        self.released_at = None
        return exposure

    def close_deadline(self) -> float | None:
        if self.current is None or self.emission_on:
            return None
        return self.last_off + self.merge_gap_s

    def procedure_emission(self, asof: float) -> float:
        """Cumulative emission time of the current procedure as of ``asof``."""
        if self.procedure is None:
            return 0.0
        running = 0.0
        if self.current is not None:
            running = (asof if self.emission_on else self.last_off) - self.current.start
        return self.procedure.closed_emission_s + running

    def procedure_end(self) -> float | None:
        """When the current procedure ends if no emission comes, or None."""
        if self.procedure is None or self.current is not None or self.procedure.last_end is None:
            return None
        return self.procedure.last_end + self.procedure_gap_s

    def end_procedure(self) -> Procedure:
        procedure = self.procedure
        assert procedure is not None
        self.procedure = None
        return procedure
