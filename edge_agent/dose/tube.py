"""Geiger–Müller tubes and their calibrations: counts to dose rate, dead time, saturation.

A GM tube only counts pulses. Turning a count rate into H*(10) needs two
things that belong to the *tube*: its dead time τ (the tube is blind for τ
after each pulse, so the measured rate m under-reads the true rate n), and a
sensitivity in counts per minute per µSv/h that belongs to the tube *and* the
beam quality it was calibrated in (an SBM-20 calibrated on Cs-137 reads about
five times high in 60 kV scatter). So every conversion goes through a
:class:`Calibration`; no factor lives anywhere else (see docs/dose-rate.md).

Dead time is modelled as non-paralysable: ``n = m / (1 - m·τ)`` and its
inverse ``m = n / (1 + n·τ)``. Measured rates of ``1/(2τ)`` or more are
flagged saturated (spec/scenarios.md): the correction then more than doubles
the reading and its uncertainty explodes.

>>> cal = default_calibration(BUILTIN_TUBES["sbm20"])
>>> round(cal.usv_h(cal.true_cps(25.0)), 3)
10.048
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

MAX_LIVE_TIME_FRACTION: Final = 0.99
"""Measured rates are corrected up to ``0.99/τ``; beyond, the true rate is capped.

Near ``1/τ`` the correction divides by almost zero: any reading there only
says "saturated", which callers flag with :meth:`Calibration.is_saturated`.
"""


@dataclass(frozen=True, slots=True)
class TubeProfile:
    """A GM tube model: what its data sheet or the literature says about it."""

    name: str
    description: str
    sensitivity_cpm_per_usv_h: float
    """Counts per minute per µSv/h of H*(10), at ``reference_quality``."""
    dead_time_s: float
    reference_quality: str = "Cs-137"

    def __post_init__(self) -> None:
        if not self.sensitivity_cpm_per_usv_h > 0.0:
            raise ValueError(f"tube {self.name!r}: sensitivity must be > 0")
        if not 0.0 <= self.dead_time_s < 0.01:
            raise ValueError(f"tube {self.name!r}: dead time must be in [0, 10 ms)")


BUILTIN_TUBES: Final[dict[str, TubeProfile]] = {
    "sbm20": TubeProfile(
        name="sbm20",
        description=(
            "SBM-20 (СБМ-20) thin-wall steel tube; the project's default profile and the"
            " simulator's. 150 cpm per µSv/h lies inside the published 106-220 range"
            " (Cs-137 data sheet ≈ 108, Ra-226 ≈ 174); dead time about 190 µs."
        ),
        sensitivity_cpm_per_usv_h=150.0,
        dead_time_s=190e-6,
        reference_quality="Cs-137",
    ),
    "lnd712": TubeProfile(
        name="lnd712",
        description=(
            "LND 712 end-window tube. LND data sheet: 18 cps per mR/h for Co-60, minimum"
            " dead time 90 µs; with 1 mR/h ≈ 10 µSv/h that is about 108 cpm per µSv/h."
        ),
        sensitivity_cpm_per_usv_h=108.0,
        dead_time_s=90e-6,
        reference_quality="Co-60",
    ),
}


@dataclass(frozen=True, slots=True)
class Calibration:
    """One tube calibrated in one beam quality: the only way counts become µSv/h."""

    name: str
    tube: TubeProfile
    beam_quality: str
    sensitivity_cpm_per_usv_h: float
    note: str = ""

    def __post_init__(self) -> None:
        if not self.sensitivity_cpm_per_usv_h > 0.0:
            raise ValueError(f"calibration {self.name!r}: sensitivity must be > 0")

    @property
    def dead_time_s(self) -> float:
        return self.tube.dead_time_s

    @property
    def cps_per_usv_h(self) -> float:
        """True counts per second per µSv/h."""
        return self.sensitivity_cpm_per_usv_h / 60.0

    @property
    def saturation_cps(self) -> float:
        """Measured rate from which a reading is flagged saturated: ``1/(2τ)``."""
        tau = self.tube.dead_time_s
        return math.inf if tau == 0.0 else 0.5 / tau

    def is_saturated(self, measured_cps: float) -> bool:
        """True when the measured rate is at or above :attr:`saturation_cps`."""
        return measured_cps >= self.saturation_cps

    def true_cps(self, measured_cps: float) -> float:
        """Dead-time corrected rate ``m / (1 - m·τ)``, capped near ``1/τ``."""
        if measured_cps < 0.0:
            raise ValueError(f"a count rate cannot be negative: {measured_cps}")
        tau = self.tube.dead_time_s
        live = 1.0 - min(measured_cps * tau, MAX_LIVE_TIME_FRACTION)
        return min(measured_cps, MAX_LIVE_TIME_FRACTION / tau if tau else math.inf) / live

    def measured_cps(self, true_cps: float) -> float:
        """Forward model: what the tube counts in a field giving ``true_cps``."""
        if true_cps < 0.0:
            raise ValueError(f"a count rate cannot be negative: {true_cps}")
        return true_cps / (1.0 + true_cps * self.tube.dead_time_s)

    def usv_h(self, true_cps: float) -> float:
        """H*(10) rate in µSv/h for a dead-time corrected count rate."""
        return true_cps / self.cps_per_usv_h

    def true_cps_for(self, usv_h: float) -> float:
        """True count rate that a field of ``usv_h`` gives this tube."""
        return usv_h * self.cps_per_usv_h

    def measured_cps_for(self, usv_h: float) -> float:
        """Measured count rate in a field of ``usv_h`` (dead time applied)."""
        return self.measured_cps(self.true_cps_for(usv_h))


def default_calibration(tube: TubeProfile) -> Calibration:
    """The tube's data-sheet calibration at its reference quality, e.g. ``sbm20/Cs-137``."""
    return Calibration(
        name=f"{tube.name}/{tube.reference_quality}",
        tube=tube,
        beam_quality=tube.reference_quality,
        sensitivity_cpm_per_usv_h=tube.sensitivity_cpm_per_usv_h,
        note="tube profile's reference calibration; not valid for diagnostic X-ray scatter",
    )


def rate_with_uncertainty(
    counts: int, seconds: float, calibration: Calibration
) -> tuple[float, float]:
    """Dose rate and its 1-sigma Poisson uncertainty, both in µSv/h, dead-time corrected.

    The measured rate ``k/t`` has sigma ``sqrt(k)/t``; the correction's slope
    ``1/(1 - m·τ)²`` carries it to the true rate. With no count at all, sigma
    is that of one count (``1/t``): the rate whose chance of giving no count
    is e⁻¹, a one-sided 63 % upper bound, rather than a meaningless zero.
    At saturation (measured rate at or past the cap) sigma is infinite.
    """
    if counts < 0:
        raise ValueError(f"counts cannot be negative: {counts}")
    if not seconds > 0.0:
        raise ValueError(f"the counting time must be > 0 s: {seconds}")
    measured = counts / seconds
    value = calibration.usv_h(calibration.true_cps(measured))
    live = 1.0 - measured * calibration.dead_time_s
    if live <= 1.0 - MAX_LIVE_TIME_FRACTION:
        return value, math.inf
    sigma_measured = math.sqrt(max(counts, 1)) / seconds
    return value, calibration.usv_h(sigma_measured / (live * live))
