"""When the simulator may hand the agent a burst of probe frames, with what a frame per step gives.

A burst is several frames, each made by the firmware at its own millisecond,
that the agent reads in one step at the last one's instant, as USB hands a
host a burst of them. The agent dates each sample by the probe's own clock
(:mod:`edge_agent.probe.serial_link`, to the microsecond) and feeds them to
the monitor in order, so the monitor sees what it sees with one step per
frame, with two differences that the simulator keeps from showing:

- the agent's clock reads the burst's end while every sample is processed,
  and an alarm is stamped with that clock: so no frame but the last may
  raise one. Between the agent's deadlines (the burst stops at
  ``Agent.next_wakeup``) only the probe's statistical detectors can raise on
  a sample, and only by reaching a threshold: :class:`BurstGuard` follows an
  upper bound of every CUSUM over the burst's counts (floored sums of each
  frame's log-likelihood ratio, the drift slightly shortened) and ends the
  burst at the first frame whose bound comes near a threshold, or that is
  saturated;
- the agent does its own periodic work (the journal's alive mark, its upkeep)
  once per step: the burst ends at the first frame at or after
  ``Agent.next_chore``, where a step per frame would do it too.

The whole library's reports are the same played frame by frame and in bursts
(tests/test_sim_modes.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_agent.agent import Agent
from edge_agent.dose.cusum import CusumBank

#: Most frames in one burst (10 s: 1,400 bytes, well within a pty's buffer).
MAX_BURST = 100
#: A bound this close to a threshold (relative) ends the burst.
SAFETY = 1e-6


@dataclass(slots=True)
class _Bound:
    """One CUSUM's upper bound: its statistic now, its weight per count, its drift per frame."""

    statistic: float
    weight: float
    drift: float
    threshold: float


class BurstGuard:
    """Follows an upper bound of the probe detectors' CUSUMs over a burst's counts."""

    def __init__(self, agent: Agent, frame_s: float) -> None:
        self.agent = agent
        self.frame_s = frame_s
        self._bounds: list[_Bound] = []
        self._resting = True
        #: Each bank's bounds (:meth:`_shape`), by the bank's identity (the bank kept, so that
        #: the identity stays its own).
        self._banks: dict[int, tuple[CusumBank, list[_Bound]]] = {}

    def possible(self) -> bool:
        """Whether a burst may start now: a serial probe watched, no input settling."""
        monitor = self.agent.monitor
        return monitor.probe is not None and self.agent.inputs.next_deadline() is None

    def start(self) -> None:
        """Take the detectors' statistics as they are before the burst."""
        watch = self.agent.monitor.probe
        assert watch is not None
        self._bounds = []
        resting = True
        for detector in (watch.rise, watch.high):
            bank = detector.bank
            kept = self._banks.get(id(bank))
            if kept is None or kept[0] is not bank:
                kept = self._banks[id(bank)] = (bank, self._shape(bank))
            for bound, s in zip(kept[1], bank.statistics, strict=True):
                bound.statistic = max(s, 0.0)
                resting = resting and bound.statistic == 0.0
            self._bounds += kept[1]
        self._resting = resting

    def _shape(self, bank: CusumBank) -> list[_Bound]:
        """One bound per CUSUM of the bank, its statistic to be set: each weight per count,
        drift per frame (slightly shortened) and threshold is fixed for a bank's life (its
        rates and thresholds are set when it is made)."""
        r0 = bank.rate0_cps
        return [_Bound(0.0, math.log(r1 / r0), (r1 - r0) * self.frame_s * (1.0 - 1e-9), h)
                for r1, h in zip(bank.rates1_cps, bank.thresholds, strict=True)]

    def admits(self, counts: int) -> bool:
        """Take one frame; False when it could raise an alarm (it must end the burst)."""
        if counts == 0 and self._resting:
            return True  # every bound stays at 0 (and no count is no saturation)
        cal = self.agent.calibration
        if cal is None or cal.is_saturated(counts / self.frame_s):
            return False
        resting = True
        for b in self._bounds:
            s = b.statistic + counts * b.weight - b.drift
            if s > 0.0:
                resting = False
                if s >= b.threshold * (1.0 - SAFETY):
                    return False
            else:
                s = 0.0
            b.statistic = s
        self._resting = resting
        return True
