"""The GPIO probe: a GM board's pulse output wired straight to a Pi input.

No firmware, no HV line: the agent counts the pulses itself and cuts them
into windows of ``frame_s`` on its own clock, aligned on the first poll.
Each pulse is stamped when it arrives, so a late poll still gets every
window with its own counts. The simulator delivers its per-tick batches
through :meth:`GpioPulseProbe.add_pulses` (the counting seam), not as one
mock edge pair per pulse.
"""

from __future__ import annotations

import math
import threading

from gpiozero import DigitalInputDevice

from edge_agent.clock import Clock
from edge_agent.probe.sample import ProbeSample

_EPS = 1e-6
"""Tolerance in windows, so a pulse stamped exactly at a window's end belongs to it."""


class GpioPulseProbe:
    """Counts GM pulses on ``pin`` (gpiozero) and emits one sample per elapsed window.

    With ``pull_up=True`` (open-collector pulse outputs, the common case) a
    pulse is the input going low. Callbacks run in gpiozero's backend thread
    on a real Pi, hence the lock.

    >>> probe = GpioPulseProbe(17, clock, pin_factory=MockFactory())   # doctest: +SKIP
    >>> probe.poll(); probe.add_pulses(12); clock.advance(0.1); probe.poll()
    """

    def __init__(
        self,
        pin: int | str,
        clock: Clock,
        *,
        pin_factory: object | None = None,
        pull_up: bool = True,
        frame_s: float = 0.1,
    ) -> None:
        self._clock = clock
        self.frame_s = frame_s
        self._lock = threading.Lock()
        self._origin: float | None = None
        self._next = 0
        self._pending: dict[int, int] = {}
        self._stats = {"pulses": 0, "pulses_before_start": 0, "samples": 0, "late_polls": 0}
        self._device = DigitalInputDevice(pin, pull_up=pull_up, pin_factory=pin_factory)
        self._device.when_activated = self._on_pulse

    def add_pulses(self, n: int) -> None:
        """Count ``n`` pulses arriving now (the simulator's per-tick batch)."""
        if n <= 0:
            return
        with self._lock:
            self._stats["pulses"] += n
            if self._origin is None:
                self._stats["pulses_before_start"] += n
                return
            window = max(self._window_of(self._clock.monotonic()), self._next)
            self._pending[window] = self._pending.get(window, 0) + n

    def poll(self) -> list[ProbeSample]:
        """One sample per window ended since the last poll (the first poll only aligns)."""
        with self._lock:
            now = self._clock.monotonic()
            if self._origin is None:
                self._origin = now
                return []
            ended = math.floor((now - self._origin) / self.frame_s + _EPS)
            samples = [self._sample(i) for i in range(self._next, ended)]
            self._next = max(self._next, ended)
        self._stats["samples"] += len(samples)
        self._stats["late_polls"] += len(samples) > 1
        return samples

    def next_deadline(self) -> float | None:
        """End of the current window (now, before the first poll has aligned them)."""
        if self._origin is None:
            return self._clock.monotonic()
        return self._origin + (self._next + 1) * self.frame_s

    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    def close(self) -> None:
        self._device.close()

    def _on_pulse(self) -> None:
        self.add_pulses(1)

    def _window_of(self, t: float) -> int:
        """Index of the window ``(origin + i*frame_s, origin + (i+1)*frame_s]`` holding ``t``."""
        assert self._origin is not None
        return math.ceil((t - self._origin) / self.frame_s - _EPS) - 1

    def _sample(self, index: int) -> ProbeSample:
        assert self._origin is not None
        return ProbeSample(
            end=self._origin + (index + 1) * self.frame_s,
            duration=self.frame_s,
            counts=self._pending.pop(index, 0),
        )
