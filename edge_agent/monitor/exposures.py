"""Exposures and procedures from the emission signal, as the generator counts them.

An exposure is one period of the emission signal, pulses merged: under one
continuous request every pulse belongs to it whatever the pulse rate (pulsed
fluoroscopy runs down to 0.5 pulse/s); once the request is released, pulses
closer than ``exposure_merge_gap_s`` still do; an exposure that began with no
request merges pulses closer than ``unrequested_merge_gap_s``, so that a C-arm
pulsing on its own is one unsolicited exposure per train, not one per pulse.
An exposure is therefore closed only once its gap has passed.

A procedure is one patient's run of exposures; its fluoroscopy time is the
sum of its exposures' spans (first rise to last fall, pulse gaps included),
the time the generator displays and the HAS 60-minute threshold is about. It
ends at the rising edge of the optional ``patient`` input when one is wired,
else after ``procedure_gap_s`` with no emission.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.config import Rules
from edge_agent.monitor.records import ExposureRecord


@dataclass(slots=True)
class Procedure:
    number: int
    closed_emission_s: float = 0.0
    last_end: float | None = None
    #: When the patient input said this patient is done (the procedure ends once no
    #: exposure is open).
    done_at: float | None = None


class ExposureTracker:
    """Turns debounced emission and request edges into exposure records and procedures."""

    def __init__(self, rules: Rules, patient_input: bool = False) -> None:
        self.merge_gap_s = rules.exposure_merge_gap_s
        self.unrequested_gap_s = rules.unrequested_merge_gap_s
        self.procedure_gap_s = rules.procedure_gap_s
        #: Procedures end at the patient input's rising edge, not after a gap.
        self.patient_input = patient_input
        self.current: ExposureRecord | None = None
        self.emission_on = False
        self.request_held = False
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

    def request(self, at: float, held: bool) -> None:
        self.request_held = held
        if self.current is not None:
            self.released_at = None if held else at

    def close_deadline(self) -> float | None:
        """When the current exposure closes if no pulse comes (None: not while it is open)."""
        x = self.current
        if x is None or self.emission_on:
            return None
        if not x.requested:
            return self.last_off + self.unrequested_gap_s
        if self.request_held:
            return None  # one continuous request: every pulse belongs to this exposure
        return self.last_off + self.merge_gap_s

    def close_due(self, asof: float) -> bool:
        deadline = self.close_deadline()
        return deadline is not None and asof >= deadline

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

    def procedure_emission(self, asof: float) -> float:
        """The procedure's fluoroscopy time as of ``asof`` (the running exposure to now)."""
        if self.procedure is None:
            return 0.0
        running = 0.0
        if self.current is not None:
            running = (asof if self.emission_on else self.last_off) - self.current.start
        return self.procedure.closed_emission_s + running

    def patient_done(self, at: float) -> None:
        """The patient input's rising edge: the procedure ends once no exposure is open."""
        if self.procedure is not None and self.procedure.done_at is None:
            self.procedure.done_at = at

    def procedure_end(self) -> float | None:
        """When the current procedure ends if no emission comes, or None."""
        p = self.procedure
        if p is None or self.current is not None or p.last_end is None:
            return None
        if self.patient_input:
            return None if p.done_at is None else max(p.done_at, p.last_end)
        return p.last_end + self.procedure_gap_s

    def end_procedure(self) -> Procedure:
        procedure = self.procedure
        assert procedure is not None
        self.procedure = None
        return procedure
