"""A scenario file is refused for every mistake, naming the file, line, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import Rules
from sim.scenario import EventSpec, ExpectedAlarm, ExposureSpec, load_scenario, parse_scenario
from sim.scenario_toml import ScenarioError

SOURCE = "base.toml"

# Line numbers matter: the cases below replace one line by one line.
BASE = """\
name = "base"
duration_s = 100.0
seed = 1

[room]
doors = ["corridor", "control"]
background_usv_h = 0.1
probe = "serial"
probe_position = "inside"

[agent]
max_exposure_s = 300

[[exposure]]
at = 10.0
duration_s = 2.0
dose_rate_usv_h = 40.0

[[exposure]]
at = 20.0
duration_s = 5.0
dose_rate_usv_h = 40.0
pulse_hz = 10.0
pulse_width_s = 0.04

[[event]]
at = 50.0
signal = "door.corridor"
value = true

[[event]]
at = 60.0
signal = "dose_rate_usv_h"
value = 30

[expect]
exposures = 2
alarms = [
    {kind = "door_open_during_emission", subject = "corridor", at_s = [20.3, 20.4]},
    {kind = "radiation_without_emission", at_s = [60, 61], cleared_s = "null"},
]
"""


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once in the base scenario"
    return text.replace(old, new)


def refusal(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, SOURCE)
    return str(info.value)


# -- what a good file gives -------------------------------------------------------------


def test_the_base_scenario_parses_into_frozen_dataclasses() -> None:
    s = parse_scenario(BASE, SOURCE)
    assert (s.name, s.duration_s, s.seed, s.source) == ("base", 100.0, 1, Path(SOURCE))
    assert s.room.doors == ("corridor", "control")
    assert (s.room.probe, s.room.probe_position, s.room.background_usv_h) == (
        "serial", "inside", 0.1,
    )
    assert s.exposures == (
        ExposureSpec(10.0, 2.0, 40.0),
        ExposureSpec(20.0, 5.0, 40.0, 0.3, 10.0, 0.04),
    )
    assert s.events == (
        EventSpec(50.0, "door.corridor", True), EventSpec(60.0, "dose_rate_usv_h", 30.0)
    )
    assert s.expect is not None and s.expect.exposures == 2
    assert s.expect.alarms[1] == ExpectedAlarm(
        "radiation_without_emission", None, (60.0, 61.0), None, still_active=True
    )
    with pytest.raises(AttributeError):
        s.name = "other"  # type: ignore[misc]


def test_agent_overrides_keep_the_raw_table_and_the_rules() -> None:
    s = parse_scenario(BASE, SOURCE)
    assert dict(s.agent) == {"max_exposure_s": 300}
    assert s.rules.max_exposure_s == 300.0
    assert s.rules.release_grace_s == Rules().release_grace_s


def test_agent_and_expect_are_optional() -> None:
    text = BASE.split("[agent]")[0] + BASE.split("max_exposure_s = 300\n")[1].split("[expect]")[0]
    s = parse_scenario(text, SOURCE)
    assert s.expect is None and dict(s.agent) == {} and s.rules == Rules()


def test_toml_integers_are_fine_for_floats() -> None:
    s = parse_scenario(edit("at = 10.0", "at = 10"), SOURCE)
    assert s.exposures[0].at == 10.0 and isinstance(s.exposures[0].at, float)
    assert isinstance(s.events[1].value, float)


def test_entries_may_start_at_the_end_and_an_exposure_may_run_past_it() -> None:
    """A report can show an exposure still running at the end (end_s null)."""
    s = parse_scenario(edit("at = 50.0", "at = 100.0", edit("at = 20.0", "at = 98.0")), SOURCE)
    assert s.events[0].at == 100.0
    assert s.exposures[1].end > s.duration_s


# -- every refusal: file, line, key and what was expected -------------------------------

CASES = [
    # (old line, new line, line, key, expectation)
    ("seed = 1", "seed = 1.5", 3, "seed",
     "expected a seed for the counting statistics (an integer ≥ 0), got 1.5"),
    ("seed = 1", "seed = true", 3, "seed", "an integer ≥ 0), got true (a boolean)"),
    ("seed = 1", "sed = 1", 3, "sed", "unknown key; expected one of name, duration_s, seed"),
    ('name = "base"', 'name = ""', 1, "name", "expected a non-empty string"),
    ("duration_s = 100.0", "duration_s = 0", 2, "duration_s", "a number > 0), got 0"),
    ("duration_s = 100.0", "duration_s = inf", 2, "duration_s", "a number > 0), got inf"),
    ('doors = ["corridor", "control"]', "doors = []", 6, "room.doors", "at least one door"),
    ('doors = ["corridor", "control"]', 'doors = ["a", "a"]', 6, "room.doors", "each door once"),
    ('doors = ["corridor", "control"]', 'doors = ["a.b"]', 6, "room.doors", "without dots"),
    ("background_usv_h = 0.1", "background_usv_h = -0.1", 7, "room.background_usv_h", "> 0"),
    ('probe = "serial"', 'probe = "usb"', 8, "room.probe", 'expected one of "serial", "gpio"'),
    ('probe_position = "inside"', 'probe_position = "in"', 9, "room.probe_position",
     'expected one of "inside", "outside", got "in" (a string)'),
    ('probe = "serial"', 'prob = "serial"', 8, "room.prob", "unknown key; expected one of doors"),
    ("max_exposure_s = 300", "max_exposure = 300", 12, "agent.max_exposure",
     "unknown key; expected a key of the agent's [rules]: release_grace_s"),
    ("max_exposure_s = 300", "max_exposure_s = -5", 12, "agent.max_exposure_s",
     "Input should be greater than 0 (got -5)"),
    ("max_exposure_s = 300", "max_exposure_s = true", 12, "agent.max_exposure_s",
     "expected a number, got true (a boolean)"),
    ("max_exposure_s = 300", "max_exposure_s = nan", 12, "agent.max_exposure_s",
     "expected a number, got nan"),
    ("max_exposure_s = 300", 'max_exposure_s = "300"', 12, "agent.max_exposure_s",
     'got "300" (a string)'),
    ("at = 10.0", "at = -1.0", 15, "exposure[1].at",
     "expected a time in seconds (a number ≥ 0), got -1.0"),
    ("at = 10.0", "at = 150.0", 15, "exposure[1].at",
     "expected a time within the scenario (0 to duration_s = 100.0), got 150.0"),
    ("duration_s = 2.0", "duration_s = true", 16, "exposure[1].duration_s",
     "expected a duration in seconds (a number > 0), got true (a boolean)"),
    ("duration_s = 2.0", 'duration_s = "2"', 16, "exposure[1].duration_s", 'got "2" (a string)'),
    ("duration_s = 2.0", "duration_s = 0.0", 16, "exposure[1].duration_s", "a number > 0"),
    ("duration_s = 2.0", "duration_s = nan", 16, "exposure[1].duration_s", "got nan"),
    ("dose_rate_usv_h = 40.0\n\n[[exposure]]", "dose_rat_usv_h = 40.0\n\n[[exposure]]", 17,
     "exposure[1].dose_rat_usv_h", "unknown key; expected one of at, duration_s, dose_rate_usv_h"),
    ("pulse_hz = 10.0", "pulse_hertz = 10.0", 23, "exposure[2].pulse_hertz", "unknown key"),
    ("pulse_hz = 10.0", "", 19, "exposure[2].pulse_hz", "required with pulse_width_s"),
    ("pulse_width_s = 0.04", "", 19, "exposure[2].pulse_width_s", "required with pulse_hz"),
    ("pulse_width_s = 0.04", "pulse_width_s = 0.1", 24, "exposure[2].pulse_width_s",
     "expected a pulse width shorter than the period 1/pulse_hz = 0.1 s, got 0.1"),
    ("pulse_hz = 10.0", "pulse_hz = 0.4", 23, "exposure[2].pulse_hz",
     "the gap between pulses (2.46 s) must be at most 2.0 s (pulsed fluoroscopy runs at"
     " 0.5 pulse/s and more)"),
    ("pulse_hz = 10.0", "pulse_hz = 0", 23, "exposure[2].pulse_hz", "(a number > 0), got 0"),
    ("at = 20.0", "at = 12.3", 20, "exposure[2].at",
     "overlaps exposure[1], which spans [10.0, 12.3] s; expected exposures that do not overlap"),
    ("at = 20.0", "at = 9.0", 15, "exposure[1].at",
     "overlaps exposure[2], which spans [9.0, 14.3] s"),
    ("at = 50.0", "at = -0.5", 27, "event[1].at", "expected a time in seconds (a number ≥ 0)"),
    ("at = 50.0", "at = 101", 27, "event[1].at", "0 to duration_s = 100.0), got 101"),
    ('signal = "door.corridor"', 'signal = "door.lab"', 28, "event[1].signal",
     'unknown door "door.lab"; expected one of the doors of [room] doors:'
     " door.corridor, door.control"),
    ('signal = "door.corridor"', 'signal = "emision"', 28, "event[1].signal",
     'unknown signal "emision"; expected one of generator_powered, request, emission'),
    ('signal = "door.corridor"', 'signal = "field.event"', 28, "event[1].signal", "unknown signal"),
    ("value = true", "value = 1", 29, "event[1].value",
     "expected true or false for door.corridor, got 1"),
    ("value = true", 'value = "open"', 29, "event[1].value", 'got "open" (a string)'),
    ("value = 30", "value = true", 34, "event[2].value",
     "expected a dose rate in µSv/h for dose_rate_usv_h (a number ≥ 0), got true (a boolean)"),
    ("value = 30", "value = -3", 34, "event[2].value", "got -3"),
    ("value = 30", "valeu = 30", 34, "event[2].valeu",
     "unknown key; expected one of at, signal, value"),
    ("exposures = 2", "exposures = -1", 37, "expect.exposures", "(an integer ≥ 0), got -1"),
    ("exposures = 2", "exposure = 2", 37, "expect.exposure", "unknown key; expected one of alarms"),
    ('{kind = "door_open_during_emission", subject', '{kind = "door_opened", subject', 39,
     "expect.alarms[1].kind", 'expected one of "unsolicited_emission"'),
    ('subject = "corridor"', 'subject = "lab"', 39, "expect.alarms[1].subject",
     "expected the door it is about, one of corridor, control"),
    ('subject = "corridor", ', "", 39, "expect.alarms[1].subject", "expected the door it is about"),
    ('{kind = "radiation_without_emission"', '{kind = "radiation_without_emission", subject = "x"',
     40,
     "expect.alarms[2].subject", "expected no subject (omit the key for null)"),
    ("at_s = [20.3, 20.4]", "at_s = [20.4, 20.3]", 39, "expect.alarms[1].at_s",
     "expected [lo, hi] in seconds with 0 ≤ lo ≤ hi and lo ≤ duration_s, got [20.4, 20.3]"),
    ("at_s = [20.3, 20.4]", "at_s = 20.3", 39, "expect.alarms[1].at_s", "got 20.3"),
    ("at_s = [20.3, 20.4]", "at_s = [true, 20.4]", 39, "expect.alarms[1].at_s",
     "got [true (a boolean), 20.4]"),
    ("at_s = [20.3, 20.4]", "at_s = [120, 130]", 39, "expect.alarms[1].at_s", "lo ≤ duration_s"),
    ('cleared_s = "null"', 'cleared_s = "none"', 40, "expect.alarms[2].cleared_s",
     'or "null" (still active at the end), got "none" (a string)'),
    ('cleared_s = "null"', 'cleared = "null"', 40, "expect.alarms[2].cleared",
     "unknown key; expected one of kind, subject, at_s, cleared_s"),
    ("[expect]\nexposures = 2\nalarms = [", "[expect]\nexposures = 2\nalarm = [", 38,
     "expect.alarm", "unknown key"),
]


@pytest.mark.parametrize(("old", "new", "line", "key", "expected"), CASES)
def test_each_mistake_names_file_line_key_and_expectation(
    old: str, new: str, line: int, key: str, expected: str
) -> None:
    message = refusal(edit(old, new))
    assert message.startswith(f"{SOURCE}:{line}: {key}: "), message
    assert expected in message


def test_a_missing_key_is_named() -> None:
    message = refusal(edit("seed = 1\n", ""))
    assert message == f"{SOURCE}: seed: required key is missing"
    message = refusal(edit("dose_rate_usv_h = 40.0\n\n[[exposure]]", "\n[[exposure]]"))
    assert message == f"{SOURCE}:14: exposure[1].dose_rate_usv_h: required key is missing"


def test_a_missing_room_and_missing_expected_alarms_are_named() -> None:
    text = edit('[room]\ndoors = ["corridor", "control"]\n', '[site]\ndoors = ["corridor"]\n')
    assert refusal(text).startswith(f"{SOURCE}:5: site: unknown key")
    message = refusal(edit("alarms = [", "alarms_ = [").split("alarms_")[0] + "\n")
    assert message == f"{SOURCE}:36: expect.alarms: required key is missing"


def test_toml_syntax_errors_give_the_line() -> None:
    message = refusal(edit("seed = 1", "seed = "))
    assert message.startswith(f"{SOURCE}:3: not valid TOML: ")


def test_a_single_exposure_table_is_not_an_array_of_tables() -> None:
    text = edit("[agent]\nmax_exposure_s = 300\n", "[exposure]\nat = 1.0\n")
    text = text.split("\n[[exposure]]")[0] + "\n"
    message = refusal(text)
    assert message == (
        f"{SOURCE}:11: exposure: expected [[exposure]] entries (an array of tables),"
        " got one [exposure] table"
    )


def test_room_must_be_a_table() -> None:
    text = 'name = "x"\nduration_s = 1.0\nseed = 1\nroom = "big"\n'
    assert refusal(text) == f"{SOURCE}:4: room: expected a table, got \"big\" (a string)"


def test_pulse_trains_down_to_half_a_pulse_per_second_are_accepted() -> None:
    """Under the exposure's request every pulse is one exposure, whatever the merge gaps."""
    slow = edit("pulse_width_s = 0.04", "pulse_width_s = 0.01", edit("pulse_hz = 10.0",
                                                                      "pulse_hz = 0.5"))
    exposure = parse_scenario(slow, SOURCE).exposures[1]
    assert (exposure.pulse_hz, exposure.pulse_width_s) == (0.5, 0.01)
    tight = edit("max_exposure_s = 300", "exposure_merge_gap_s = 0.05", slow)
    assert parse_scenario(tight, SOURCE).rules.exposure_merge_gap_s == 0.05


def test_unrequested_merge_gap_is_an_agent_rule_not_below_the_merge_gap() -> None:
    ok = edit("max_exposure_s = 300", "unrequested_merge_gap_s = 1.5")
    assert parse_scenario(ok, SOURCE).rules.unrequested_merge_gap_s == 1.5
    message = refusal(edit("max_exposure_s = 300", "unrequested_merge_gap_s = 0.1"))
    assert message == (f"{SOURCE}:12: agent.unrequested_merge_gap_s: must not be below"
                       " exposure_merge_gap_s (0.3 s)")


def test_touching_exposures_overlap() -> None:
    message = refusal(edit("at = 20.0", "at = 12.3"))
    assert "overlaps exposure[1]" in message
    assert parse_scenario(edit("at = 20.0", "at = 12.31"), SOURCE).exposures[1].at == 12.31


def test_load_scenario_names_an_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError, match=r"nope\.toml: cannot read the scenario"):
        load_scenario(missing)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "é"'.encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin1\.toml: expected UTF-8 text"):
        load_scenario(bad)


def test_load_scenario_names_the_path_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(edit("value = true", "value = yes"), encoding="utf-8")
    with pytest.raises(ScenarioError, match=rf"^{path}:29: not valid TOML"):
        load_scenario(path)


def test_scenario_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_scenario("name = 3", SOURCE)


def test_lines_are_found_in_other_toml_spellings_too() -> None:
    """An inline [agent] table and [[expect.alarms]] entries are located as well."""
    head = BASE.split("[agent]")[0]
    inline = head.replace("seed = 1\n", "seed = 1\nagent = {max_exposure_s = -1}\n")
    assert refusal(inline).startswith(f"{SOURCE}:4: agent.max_exposure_s: Input should be")
    tables = head + (
        "[expect]\n\n[[expect.alarms]]\nkind = \"probe_fault\"\nat_s = [1, 2]\n\n"
        "[[expect.alarms]]\nkind = \"probe_fault\"\nat_s = [3, 2]\n"
    )
    assert refusal(tables).startswith(f"{SOURCE}:19: expect.alarms[2].at_s: expected [lo, hi]")
