"""The calibration the configuration asks for: a named factor for one tube and beam quality."""

from __future__ import annotations

from edge_agent.config import AgentConfig
from edge_agent.dose.tube import BUILTIN_TUBES, Calibration, TubeProfile, default_calibration


def tube_from_config(config: AgentConfig, name: str) -> TubeProfile:
    """A ``[tubes]`` entry of the config, else a built-in tube."""
    spec = config.tubes.get(name)
    if spec is None:
        return BUILTIN_TUBES[name]
    return TubeProfile(
        name=name,
        description=spec.description,
        sensitivity_cpm_per_usv_h=spec.sensitivity_cpm_per_usv_h,
        dead_time_s=spec.dead_time_us * 1e-6,
        reference_quality=spec.reference_quality,
    )


def calibration_from_config(config: AgentConfig) -> Calibration:
    """The probe's effective calibration (named; shown wherever a dose rate is shown)."""
    tube = tube_from_config(config, config.probe.tube)
    name = config.probe.calibration
    if name is None:
        return default_calibration(tube)
    spec = config.calibrations[name]
    return Calibration(
        name=name,
        tube=tube,
        beam_quality=spec.beam_quality,
        sensitivity_cpm_per_usv_h=spec.sensitivity_cpm_per_usv_h,
        note=spec.note,
    )
