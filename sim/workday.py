"""Writes ``sim/scenarios/working_day.toml``: a normal day in an interventional room.

    python -m sim.workday            # regenerate the committed file
    python -m sim.workday --check    # exit 1 if the committed file is not what the seed gives

The day is the baseline every detector must stay silent on: about 8 hours,
seven procedures (coronary angiography and angioplasty, a pacemaker, leg
angiography, a chemo-embolisation) with pulsed fluoroscopy at 7.5 to 15
pulses/s (short runs and runs of a few minutes), cine or DSA acquisitions and
single graphy shots, seen by a probe inside the room at up to about
1,200 µSv/h. Doors open only between exposures: staff through the control
room door during procedures, the patient through the corridor door between
them. Patient changes last longer than ``procedure_gap_s`` so that the
agent's procedures are the patients' procedures, each with far less than
60 minutes of emission. The plan is drawn from a seeded ``random.Random`` and
written with fixed formats, so the same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SEED = 20240607
DAY_MS = 28_800_000
OUTPUT = Path(__file__).resolve().parent / "scenarios" / "working_day.toml"
#: Emission of one agent procedure stays under this (the HAS threshold is 3600 s).
PROCEDURE_EMISSION_CAP_S = 2400.0
#: Doors move at least this far from any exposure.
DOOR_MARGIN_MS = 5_000
FIRST_EXPOSURE_MS = 1_200_000
GENERATOR_OFF_MS = DAY_MS - 600_000
WIDTH_S = {7.5: 0.04, 10.0: 0.04, 15.0: 0.03}


@dataclass(frozen=True, slots=True)
class Recipe:
    """A kind of procedure: how many exposures of each sort (ranges), at which pulse rates."""

    name: str
    long_runs: tuple[int, int]
    short_runs: tuple[int, int]
    acquisitions: tuple[int, int]
    shots: tuple[int, int]
    pulse_hz: tuple[float, ...]


RECIPES = {
    "coronary": Recipe("diagnostic coronary angiography", (1, 1), (6, 8), (6, 8), (0, 1), (15.0,)),
    "pci": Recipe("coronary angioplasty with stent", (2, 3), (8, 10), (5, 7), (0, 1), (15.0, 10.0)),
    "pacemaker": Recipe("pacemaker implantation", (1, 1), (10, 12), (0, 1), (2, 3), (7.5,)),
    "legs": Recipe("peripheral angiography of the legs", (1, 2), (6, 8), (5, 7), (2, 3), (7.5, 10)),
    "tace": Recipe("hepatic chemo-embolisation", (2, 3), (8, 10), (4, 6), (1, 2), (7.5,)),
}
SCHEDULE = ("coronary", "pci", "pacemaker", "coronary", "lunch", "legs", "pci", "tace")


@dataclass(frozen=True, slots=True)
class Shot:
    """One exposure of the plan (times in ms so that the file is exact)."""

    at_ms: int
    duration_ms: int
    dose_rate: int
    what: str
    prep_ms: int = 300
    pulse_hz: float | None = None

    @property
    def end_ms(self) -> int:
        return self.at_ms + self.prep_ms + self.duration_ms


@dataclass(frozen=True, slots=True)
class Move:
    """One low-level event of the plan: a door, or the generator at the end of the day."""

    at_ms: int
    signal: str
    value: bool
    why: str


@dataclass(slots=True)
class Day:
    shots: list[Shot]
    moves: list[Move]
    procedures: list[tuple[int, str]]


# -- drawing the plan ----------------------------------------------------------------------


def _ms(rng: random.Random, low_s: float, high_s: float) -> int:
    return rng.randint(int(low_s * 1000), int(high_s * 1000))


def _kinds(rng: random.Random, recipe: Recipe) -> list[str]:
    """The procedure's exposures in a plausible order: it starts with a short run."""
    counts = (recipe.long_runs, recipe.short_runs, recipe.acquisitions, recipe.shots)
    names = ("long", "short", "acquisition", "shot")
    kinds = [n for n, c in zip(names, counts, strict=True) for _ in range(rng.randint(*c))]
    rng.shuffle(kinds)
    kinds.remove("short")
    return ["short", *kinds]


def _shot(rng: random.Random, kind: str, at_ms: int, recipe: Recipe) -> Shot:
    hz = rng.choice(recipe.pulse_hz)
    if kind == "long":
        return Shot(at_ms, _ms(rng, 120, 280), rng.randint(150, 450), "fluoroscopy", pulse_hz=hz)
    if kind == "short":
        return Shot(at_ms, _ms(rng, 3, 45), rng.randint(150, 450), "fluoroscopy", pulse_hz=hz)
    if kind == "acquisition":
        what = "cine acquisition" if "coronary" in recipe.name else "DSA acquisition"
        return Shot(at_ms, _ms(rng, 3, 9), rng.randint(600, 1200), what, _ms(rng, 0.8, 1.5))
    return Shot(at_ms, _ms(rng, 0.1, 0.6), rng.randint(300, 900), "graphy shot", 1000)


def _procedure(rng: random.Random, recipe: Recipe, start_ms: int, day: Day) -> int:
    """Plan one procedure from ``start_ms``; returns when its last exposure ends."""
    end_ms = start_ms
    for index, kind in enumerate(_kinds(rng, recipe)):
        gap = _ms(rng, 60, 240) if rng.random() < 0.2 else _ms(rng, 4, 60)
        at_ms = start_ms if index == 0 else end_ms + gap
        if index and gap >= 40_000 and rng.random() < 0.3:
            _door_cycle(rng, day, "control", end_ms, at_ms, "staff through the control room")
        shot = _shot(rng, kind, at_ms, recipe)
        day.shots.append(shot)
        end_ms = shot.end_ms
    return end_ms


def _door_cycle(rng: random.Random, day: Day, door: str, after: int, before: int, why: str) -> None:
    """Open and close ``door`` somewhere in (after, before), clear of both by the margin."""
    open_for = _ms(rng, 3, 15)
    latest = before - DOOR_MARGIN_MS - open_for
    if latest <= after + DOOR_MARGIN_MS:
        return
    opens = rng.randint(after + DOOR_MARGIN_MS, latest)
    day.moves.append(Move(opens, f"door.{door}", True, why))
    day.moves.append(Move(opens + open_for, f"door.{door}", False, why))


def _patient_change(rng: random.Random, day: Day, last_end: int, next_start: int) -> None:
    out_at = last_end + _ms(rng, 90, 240)
    out_for = _ms(rng, 60, 150)
    in_at = next_start - _ms(rng, 900, 1200)
    day.moves += [
        Move(out_at, "door.corridor", True, "patient out"),
        Move(out_at + out_for, "door.corridor", False, "patient out"),
    ]
    _door_cycle(rng, day, "control", out_at + out_for, in_at, "cleaning, staff")
    day.moves += [
        Move(in_at, "door.corridor", True, "next patient in"),
        Move(in_at + _ms(rng, 60, 120), "door.corridor", False, "next patient in"),
    ]


def plan_day(seed: int = SEED) -> Day:
    """The whole day, drawn from ``seed``."""
    rng = random.Random(seed)
    day = Day([], [], [])
    day.moves += [
        Move(300_000, "door.corridor", True, "first patient in"),
        Move(390_000, "door.corridor", False, "first patient in"),
    ]
    start, last_end, lunch = FIRST_EXPOSURE_MS, None, 0
    for item in SCHEDULE:
        if item == "lunch":
            lunch = _ms(rng, 1800, 2400)
            continue
        if last_end is not None:
            start = last_end + _ms(rng, 1850, 2100) + lunch
            _patient_change(rng, day, last_end, start)
            lunch = 0
        day.procedures.append((start, RECIPES[item].name))
        last_end = _procedure(rng, RECIPES[item], start, day)
    assert last_end is not None
    out_at = last_end + _ms(rng, 90, 240)
    day.moves += [
        Move(out_at, "door.corridor", True, "last patient out"),
        Move(out_at + 90_000, "door.corridor", False, "last patient out"),
        Move(GENERATOR_OFF_MS, "generator_powered", False, "generator switched off for the night"),
        Move(GENERATOR_OFF_MS, "light.powered", False, "its powered lamp goes out with it"),
    ]
    check_day(day)
    return day


def check_day(day: Day) -> None:
    """Refuse a plan that would not be a quiet day (the seed or the recipes are wrong)."""
    problems = []
    spans = [(s.at_ms - DOOR_MARGIN_MS, s.end_ms + DOOR_MARGIN_MS) for s in day.shots]
    for move in day.moves:
        if move.signal.startswith("door.") and any(a <= move.at_ms <= b for a, b in spans):
            problems.append(f"{move.signal} moves during an exposure at {move.at_ms} ms")
    if max(m.at_ms for m in day.moves if m.signal.startswith("door.")) >= GENERATOR_OFF_MS:
        problems.append("the day does not fit before the generator is switched off")
    if any(s.prep_ms + s.duration_ms >= 590_000 for s in day.shots):
        problems.append("an exposure lasts too long")
    if len(day.shots) < 100:
        problems.append(f"only {len(day.shots)} exposures")
    if max(procedure_emission_s(day.shots)) >= PROCEDURE_EMISSION_CAP_S:
        problems.append("a procedure has too much emission")
    if problems:
        raise ValueError("; ".join(problems))


def procedure_emission_s(shots: Sequence[Shot], gap_ms: int = 1_800_000) -> list[float]:
    """Cumulative emission of each procedure as the agent groups them (gaps < procedure_gap_s)."""
    totals: list[float] = []
    last_end: int | None = None
    for shot in sorted(shots, key=lambda s: s.at_ms):
        start = shot.at_ms + shot.prep_ms
        if last_end is None or start - last_end >= gap_ms:
            totals.append(0.0)
        totals[-1] += shot.duration_ms / 1000
        last_end = shot.end_ms
    return totals


# -- writing it ----------------------------------------------------------------------------


def _s(ms: int) -> str:
    """Milliseconds as seconds with no binary noise: 1200000 → 1200.0, 1234 → 1.234."""
    whole, frac = divmod(ms, 1000)
    return f"{whole}.{f'{frac:03d}'.rstrip('0') or '0'}"


def _clock(ms: int) -> str:
    minutes = 7 * 60 + ms // 60_000
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _exposure_toml(shot: Shot) -> list[str]:
    lines = [f"[[exposure]]  # {_clock(shot.at_ms)} {shot.what}", f"at = {_s(shot.at_ms)}",
             f"duration_s = {_s(shot.duration_ms)}", f"dose_rate_usv_h = {shot.dose_rate}.0"]
    if shot.prep_ms != 300:
        lines.append(f"prep_s = {_s(shot.prep_ms)}")
    if shot.pulse_hz is not None:
        lines += [f"pulse_hz = {float(shot.pulse_hz)}", f"pulse_width_s = {WIDTH_S[shot.pulse_hz]}"]
    return lines


def _event_toml(move: Move) -> list[str]:
    value = "true" if move.value else "false"
    return [f"[[event]]  # {_clock(move.at_ms)} {move.why}", f"at = {_s(move.at_ms)}",
            f'signal = "{move.signal}"', f"value = {value}"]


HEADER = """\
# A normal working day in an interventional room: the baseline that must raise NO alarm.
#
# GENERATED by sim/workday.py (seed {seed}): do not edit; regenerate with
#     python -m sim.workday
#
# About 8 hours from 07:00, {exposures} exposures in {procedures} procedures:
{schedule}
# Pulsed fluoroscopy at 7.5 to 15 pulses/s (short runs and runs of a few minutes),
# cine/DSA acquisitions and single graphy shots. The probe is inside the room and sees up
# to about 1,200 µSv/h during exposures. Doors open only between exposures: staff through
# the control room door during procedures, patients through the corridor door between them.
# Patient changes last longer than procedure_gap_s, so each procedure is one for the agent,
# each far below the 60-minute fluoroscopy threshold. At the end of the day the generator
# is switched off and its powered lamp goes out at the same instant.
"""


def render(seed: int = SEED) -> str:
    """The file's text for ``seed``."""
    day = plan_day(seed)
    schedule = "\n".join(f"#   {_clock(at_ms)} {name}" for at_ms, name in day.procedures)
    text = HEADER.format(seed=seed, procedures=len(day.procedures), schedule=schedule,
                         exposures=len(day.shots))
    text += '\nname = "A normal working day in an interventional room"\n'
    text += f"duration_s = {_s(DAY_MS)}\nseed = {seed}\n\n"
    text += '[room]\ndoors = ["corridor", "control"]\nbackground_usv_h = 0.1\n'
    text += 'probe = "serial"\nprobe_position = "inside"\n'
    items = [(s.at_ms, 0, _exposure_toml(s)) for s in day.shots]
    items += [(m.at_ms, 1, _event_toml(m)) for m in day.moves]
    starts = dict(day.procedures)
    for at_ms, _, lines in sorted(items, key=lambda item: (item[0], item[1])):
        if at_ms in starts:
            text += f"\n# ---- {_clock(at_ms)} procedure: {starts[at_ms]} ----\n"
        text += "\n" + "\n".join(lines) + "\n"
    text += f"\n[expect]\nalarms = []\nexposures = {len(day.shots)}\nunrequested_exposures = 0\n"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    description = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m sim.workday", description=description)
    parser.add_argument("--seed", type=int, default=SEED, help=f"plan seed (default {SEED})")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="file to write")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = render(args.seed)
    if args.check:
        same = args.output.exists() and args.output.read_text(encoding="utf-8") == text
        print(f"{args.output}: {'up to date' if same else 'DIFFERS from the generator'}")
        return 0 if same else 1
    args.output.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
