"""Zoning from ambient readings, the worked examples of issue 15, on readings written
straight into a store (3 mSv in an hour is far above what the default tube counts without
saturating): natural background alone is outside delimited areas; "en une heure" is any
60-minute window; saturated months are lower bounds; a calibration not for X-ray scatter
is indicative; the verdict against the declared zone, and its event.

Background readings come one every 5 minutes (tests/report_data.py: counts 2.5 per second
per µSv/h, the dose consistent with them); the hour that matters is in 10 s readings.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from edge_agent.dose.tube import BUILTIN_TUBES, default_calibration
from edge_agent.monitor.readings import OneSecondMean, ReadingAccumulator
from edge_agent.probe.sample import ProbeSample
from hub.config import Zoning
from hub.controls.workplace import check_report
from hub.db.connection import connect, write
from hub.db.store import Store
from hub.reports import points as pts
from hub.reports import preparation, quarters
from hub.reports import quarterly as qr
from hub.timefmt import iso
from hub.web.report_document import render_html
from sim.physics import Radiation
from tests.report_data import device, exposure, fill, paris

STEP = 300
AFTER_Q1 = datetime(2026, 4, 2, 8, tzinfo=UTC)
SCATTER = ("sbm20/Cs-137",)  # the test readings' calibration, declared as made in scatter
Q1 = (paris(2026, 1, 1), paris(2026, 4, 1))


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    Store.open(tmp_path / "hub.db").close()
    conn = connect(tmp_path / "hub.db")
    device(conn, "dev", "salle-1", paris(2025, 12, 1))
    yield conn
    conn.close()


def _point(conn: sqlite3.Connection) -> pts.Point:
    with write(conn):
        pts.ensure_probe_points(conn)
    return pts.list_points(conn, device="dev", kind="probe")[0]


def _report(conn: sqlite3.Connection, scatter: tuple[str, ...] = SCATTER) -> dict[str, Any]:
    report_id = preparation.prepare(conn, _point(conn), quarters.parse_quarter("2026-Q1"),
                                    Zoning(), 0.99, AFTER_Q1, scatter=scatter)
    return dict(qr.get_report(conn, report_id)["content"])


def _declare(conn: sqlite3.Connection, declared: dict[str, str | None],
             background_cpm: float | None = None) -> None:
    point = _point(conn)
    with write(conn):
        pts.set_zoning(conn, point, declared, background_cpm)


def _with_hour(conn: sqlite3.Connection, usv_h: float) -> None:
    """Background at 0.1 µSv/h all quarter but 5 March, 10:30 to 11:30 Paris, at ``usv_h``
    in 10 s readings: half of it in each clock hour."""
    start, end = paris(2026, 3, 5, 10, 30), paris(2026, 3, 5, 11, 30)
    last = fill(conn, "dev", Q1[0], start, STEP, 0.1)
    last = fill(conn, "dev", start, end, 10, usv_h, seq0=last + 1)
    fill(conn, "dev", end, Q1[1], STEP, 0.1, seq0=last + 1)


@pytest.mark.parametrize("usv_h", [0.10, 0.12, 0.20])
def test_natural_background_alone_is_outside_delimited_areas(conn: sqlite3.Connection,
                                                             usv_h: float) -> None:
    fill(conn, "dev", *Q1, STEP, usv_h)
    c = _report(conn)
    gross = max(m["dose_usv"] for m in c["months"])
    if usv_h >= 0.12:  # what the gross dose made of it: a supervised area
        assert gross / 1000 >= Zoning().non_regulated_msv_month
    assert [m["zone"] for m in c["months"]] == ["non_regulated"] * 3
    assert c["highest_zone"] == "non_regulated" and c["highest_zone_lower_bound"] is False
    background = c["zoning"]["background"]
    assert background["method"] == "no_emission_median"  # the box journals no generator state
    assert background["cpm"] == pytest.approx(usv_h * 150)
    assert background["hours"] == 90 * 24 - 1
    assert background["usv_h"] == pytest.approx(usv_h)
    assert all(abs(m["net_dose_signed_usv"]) < 1e-6 for m in c["months"])


def test_a_configured_background_is_subtracted_in_count_rate(conn: sqlite3.Connection) -> None:
    fill(conn, "dev", *Q1, STEP, 0.12)
    _declare(conn, {}, background_cpm=0.08 * 150)  # the site measured 0.08 µSv/h worth
    c = _report(conn)
    assert c["zoning"]["background"] == {"method": "configured", "cpm": pytest.approx(12.0),
                                         "hours": 0, "usv_h": pytest.approx(0.08),
                                         "capped": False}
    january = c["months"][0]
    assert january["net_dose_usv"] == pytest.approx(0.04 * 744, rel=1e-6)
    assert january["zone"] == "non_regulated"


def test_an_hour_across_two_clock_hours_is_orange_by_the_sliding_window(
        conn: sqlite3.Connection) -> None:
    _with_hour(conn, 3000.0)  # 3 mSv between 10:30 and 11:30: 1.5 mSv in each clock hour
    c = _report(conn)
    march = c["months"][2]
    assert (march["zone"], march["zone_by"]) == ("controlled_orange", "hour")
    assert march["max_window_dose_usv"] == pytest.approx(3000.0, rel=1e-3)
    assert march["max_window_start"] == iso(paris(2026, 3, 5, 10, 30))
    assert march["max_window_end"] == iso(paris(2026, 3, 5, 11, 30))
    assert (c["highest_zone"], c["highest_zone_month"], c["highest_zone_by"]) == (
        "controlled_orange", "2026-03", "hour")
    assert c["zoning"]["hourly"] == "sliding_60_min" and c["method"] == 2
    assert [m["zone"] for m in c["months"][:2]] == ["non_regulated"] * 2


def test_150_msv_in_the_same_window_is_red(conn: sqlite3.Connection) -> None:
    _with_hour(conn, 150_000.0)
    march = _report(conn)["months"][2]
    assert (march["zone"], march["zone_by"]) == ("controlled_red", "hour")
    assert march["max_window_dose_usv"] == pytest.approx(150_000.0, rel=1e-3)


def test_a_saturated_month_is_a_lower_bound(conn: sqlite3.Connection) -> None:
    fill(conn, "dev", *Q1, STEP, 0.1)
    with write(conn):
        conn.execute("UPDATE readings SET saturated = 1 WHERE device = 'dev' AND start = ?",
                     [iso(paris(2026, 2, 10, 9))])
    c = _report(conn)
    february = c["months"][1]
    assert february["zone_lower_bound"] is True
    assert february["lower_bound_reasons"] == ["saturated"]
    assert c["months"][0]["zone_lower_bound"] is False
    assert c["highest_zone_lower_bound"] is True


def test_hours_without_data_make_a_lower_bound_and_say_so(conn: sqlite3.Connection) -> None:
    last = fill(conn, "dev", Q1[0], paris(2026, 1, 20), STEP, 0.1)
    fill(conn, "dev", paris(2026, 1, 22), Q1[1], STEP, 0.1, seq0=last + 1)
    january = _report(conn)["months"][0]
    assert january["zone_lower_bound"] is True
    assert january["lower_bound_reasons"] == ["coverage", "hours_without_data"]


def test_a_calibration_not_for_scatter_makes_the_zones_indicative(
        conn: sqlite3.Connection) -> None:
    _with_hour(conn, 3000.0)
    _declare(conn, {"permanent": "supervised"})
    c = _report(conn, scatter=())
    assert c["indicative"] is True and c["zoning"]["indicative"] is True
    assert c["zoning"]["calibrations"] == [{"name": "sbm20/Cs-137", "scatter": False}]
    march = c["months"][2]
    assert (march["verdict"], march["verdict_reasons"]) == (
        "undetermined", ["indicative_calibration"])
    assert _events(conn) == []


def _events(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return [(str(r[0]), str(r[1]), str(r[2])) for r in conn.execute(
        "SELECT kind, ref, detail FROM events WHERE kind = 'zone_not_consistent' ORDER BY id")]


def test_a_zone_above_the_declared_one_is_not_consistent_and_raises_its_event(
        conn: sqlite3.Connection) -> None:
    _with_hour(conn, 3000.0)
    _declare(conn, {"permanent": "supervised"})
    c = _report(conn)
    verdicts = [(m["verdict"], m["verdict_reasons"]) for m in c["months"]]
    assert verdicts == [("consistent", []), ("consistent", []),
                        ("not_consistent", ["above_declared"])]
    assert c["verdict"] == "not_consistent"
    events = _events(conn)
    point = _point(conn)
    assert [(k, ref) for k, ref, _ in events] == [
        ("zone_not_consistent", f"zone:{point.id}:2026-03")]
    assert '"zone":"controlled_orange"' in events[0][2]
    _report(conn)  # the hourly recomputation finds the event: never a second one
    assert len(_events(conn)) == 1


def test_a_lower_bound_below_the_declared_zone_is_undetermined(
        conn: sqlite3.Connection) -> None:
    last = fill(conn, "dev", Q1[0], paris(2026, 1, 20), STEP, 0.1)
    fill(conn, "dev", paris(2026, 1, 22), Q1[1], STEP, 0.1, seq0=last + 1)
    _declare(conn, {"permanent": "supervised"})
    months = _report(conn)["months"]
    assert (months[0]["verdict"], months[0]["verdict_reasons"]) == (
        "undetermined", ["lower_bound_below_declared"])
    assert months[1]["verdict"] == "consistent"


def test_the_peak_during_emissions_is_shown_for_pulsed_equipment(
        conn: sqlite3.Connection) -> None:
    _with_hour(conn, 3000.0)
    exposure(conn, "dev", 1, paris(2026, 3, 5, 10, 40))
    with write(conn):
        conn.execute("UPDATE exposures SET \"end\" = ?, duration_s = 60, pulses = 900"
                     " WHERE device = 'dev'", [iso(paris(2026, 3, 5, 10, 41))])
    c = _report(conn)
    pulsed = c["zoning"]["pulsed"]
    assert pulsed == {"emissions": 1, "pulsed_emissions": 1, "peak_usv_h": 6000.0,
                      "peak_at": iso(paris(2026, 3, 5, 10, 40))}
    assert c["months"][2]["peak_emission_usv_h"] == 6000.0


def _tube_readings(conn: sqlite3.Connection, start: int, end: int, usv_h: float,
                   seq0: int) -> int:
    """Readings of [start, end) made by the agent's own accumulator from the simulator's
    tube (Poisson counts with dead time, 0.1 s frames) in a field of ``usv_h``."""
    cal = default_calibration(BUILTIN_TUBES["sbm20"])
    radiation = Radiation(cal, 0.1, seed=11)
    radiation.set_field("field.exposure", usv_h)
    one_s, acc = OneSecondMean(cal), ReadingAccumulator(cal, 10.0, start, 0.1)
    rows, t = [], float(start)
    while t < end - 1e-9:
        radiation.advance(t + 0.1)
        sample = ProbeSample(end=t + 0.1, duration=0.1, counts=radiation.take())
        dose = cal.usv_h(cal.true_cps(sample.counts / 0.1)) * 0.1 / 3600
        acc.add(sample, one_s.add(sample), dose)
        t += 0.1
        if acc.due(t + 1e-6):
            rows.append(acc.emit())
    with write(conn):
        conn.executemany(
            "INSERT INTO readings (device, site, room, journal, seq, run, start, \"end\","
            " counts, seconds_covered, cpm, dose_usv, mean_usv_h, mean_sigma_usv_h, max_usv_h,"
            " max_sigma_usv_h, saturated, calibration, frames, frames_lost) SELECT device, site,"
            " room, journal, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM devices"
            " WHERE device = 'dev'",
            [(seq0 + i, iso(r.start), iso(r.end), r.counts, r.seconds_covered, r.cpm,
              r.dose_usv, r.mean_usv_h, r.mean_sigma_usv_h, r.max_usv_h, r.max_sigma_usv_h,
              int(r.saturated), r.calibration, r.frames, r.frames_lost)
             for i, r in enumerate(rows)])
    return seq0 + len(rows) - 1


def test_through_the_simulated_tube_the_same_hour_is_a_lower_bound(
        conn: sqlite3.Connection) -> None:
    start, end = paris(2026, 3, 5, 10, 30), paris(2026, 3, 5, 11, 30)
    last = fill(conn, "dev", Q1[0], start, STEP, 0.1)
    last = _tube_readings(conn, start, end, 3000.0, last + 1)
    fill(conn, "dev", end, Q1[1], STEP, 0.1, seq0=last + 1)
    march = _report(conn)["months"][2]
    assert (march["zone"], march["zone_by"]) == ("controlled_orange", "hour")
    assert march["zone_lower_bound"] is True and march["lower_bound_reasons"] == ["saturated"]
    assert march["max_window_start"] == iso(start)


def _generator(conn: sqlite3.Connection, spans: list[tuple[int, int]]) -> None:
    """Journaled changes of the generator's power: on at each span's start, off at its end."""
    edges = sorted([(a, 1) for a, _ in spans] + [(b, 0) for _, b in spans])
    with write(conn):
        conn.executemany(
            "INSERT INTO changes (device, site, room, journal, seq, run, signal, value, first,"
            " last, count, origin, by, clock_synced, clock_implausible, stored_at)"
            " SELECT device, site, room, journal, ?, 1, 'generator_powered', ?, ?, ?, 1,"
            " 'edge', '', 1, 0, ? FROM devices WHERE device = 'dev'",
            [(10_000_000 + i, value, iso(at), iso(at), iso(at))
             for i, (at, value) in enumerate(edges)])


def test_an_intermittent_zone_is_judged_with_the_generator_off_too(
        conn: sqlite3.Connection) -> None:
    """Radiation with the generator off (1 µSv/h more for a week of February) breaks an
    intermittent zone declared outside delimited areas when off, though the month as a
    whole stays below the zone declared while emitting."""
    leak = (paris(2026, 2, 9), paris(2026, 2, 16))
    last = fill(conn, "dev", Q1[0], leak[0], STEP, 0.1)
    last = fill(conn, "dev", *leak, STEP, 1.1, seq0=last + 1)
    start, end = paris(2026, 3, 5, 10, 30), paris(2026, 3, 5, 11, 30)
    last = fill(conn, "dev", leak[1], start, STEP, 0.1, seq0=last + 1)
    last = fill(conn, "dev", start, end, 10, 3000.0, seq0=last + 1)
    fill(conn, "dev", end, Q1[1], STEP, 0.1, seq0=last + 1)
    _generator(conn, [(paris(2026, 3, 5, 10), paris(2026, 3, 5, 12))])
    _declare(conn, {"off": "non_regulated", "powered": "supervised",
                    "emitting": "controlled_orange"})
    c = _report(conn)
    assert c["zoning"]["generator_state"] == "journaled"
    assert c["zoning"]["background"]["method"] == "unpowered_median"
    assert c["zoning"]["background"]["cpm"] == pytest.approx(15.0)
    january, february, march = c["months"]
    assert (january["off_zone"], january["verdict"]) == ("non_regulated", "consistent")
    assert february["off_zone"] == "supervised"
    assert (february["verdict"], february["verdict_reasons"]) == (
        "not_consistent", ["off_above_declared"])
    assert (march["zone"], march["off_zone"], march["verdict"]) == (
        "controlled_orange", "non_regulated", "consistent")
    assert march["declared_zone"] == "controlled_orange"


def test_declared_zones_are_checked(conn: sqlite3.Connection) -> None:
    point = _point(conn)
    bad: list[tuple[dict[str, str | None], float | None, str]] = [
        ({"sometimes": "supervised"}, None, "sometimes"),
        ({"permanent": "pink"}, None, "permanent"),
        ({"permanent": "supervised", "off": "non_regulated"}, None, "permanent"),
        ({"off": "supervised", "emitting": "non_regulated"}, None, "emitting"),
        ({}, -1.0, "background_cpm"),
        ({}, float("nan"), "background_cpm"),
    ]
    for declared, cpm, field in bad:
        with pytest.raises(pts.PointError) as caught, write(conn):
            pts.set_zoning(conn, point, declared, cpm)
        assert caught.value.field == field
    with write(conn):
        saved = pts.set_zoning(conn, point, {"off": "non_regulated", "powered": None,
                                             "emitting": "controlled_green"}, 18.0)
    assert saved.declared == {"off": "non_regulated", "emitting": "controlled_green"}
    assert saved.background_cpm == 18.0
    with write(conn):  # a row written by hand must not break the reports
        conn.execute("UPDATE points SET declared_zones = 'not json' WHERE id = ?", [point.id])
    assert pts.get_point(conn, point.id).declared == {}


def test_a_signed_report_is_never_recomputed_and_an_amended_one_names_it(
        conn: sqlite3.Connection) -> None:
    _with_hour(conn, 3000.0)
    content = _report(conn)
    report_id = int(conn.execute("SELECT id FROM reports").fetchone()[0])
    with write(conn):
        signed = qr.sign(conn, report_id, "Marie Curie", "marie", AFTER_Q1,
                         lambda c: ("<html></html>", b"%PDF-1.4"), qr.get_report(
                             conn, report_id)["content_sha256"])
    _declare(conn, {"permanent": "supervised"})
    again = _report(conn)  # the scheduler's pass: the signed version is left as it was
    assert again == qr.get_report(conn, report_id)["content"]
    assert content["months"][2]["verdict"] is None  # nothing was declared when it was made
    assert qr.get_report(conn, report_id)["content_sha256"] == signed["content_sha256"]
    made = preparation.amend(conn, report_id, Zoning(), 0.99, "marie", AFTER_Q1, SCATTER)
    amended = qr.get_report(conn, made["report"])
    assert (amended["version"], amended["status"], amended["supersedes"]) == (
        2, "draft", report_id)
    assert amended["content"]["amends"] == {
        "report": report_id, "version": 1, "content_sha256": signed["content_sha256"],
        "method": 2, "signed_at": iso(AFTER_Q1.timestamp()), "signer_name": "Marie Curie"}
    assert amended["content"]["months"][2]["verdict"] == "not_consistent"  # recomputed
    _report(conn)  # the hourly pass recomputes the amended draft: it stays an amendment
    assert "amends" in qr.get_report(conn, made["report"])["content"]
    with pytest.raises(qr.ReportError):
        preparation.amend(conn, report_id, Zoning(), 0.99, "marie", AFTER_Q1, SCATTER)


def test_a_report_signed_before_the_upgrade_keeps_its_method(tmp_path: Path) -> None:
    """The store made by main at 8d84035 holds a signed Q1 report (method 1, clock hours,
    gross dose): migrated and prepared again, it is byte for byte what was signed."""
    path = tmp_path / "hub.db"
    path.write_bytes((Path(__file__).parent / "data" / "hub_8d84035.db").read_bytes())
    old = sqlite3.connect(path)
    before = old.execute("SELECT content, content_sha256 FROM reports WHERE id = 1").fetchone()
    old.close()
    Store.open(path).close()
    conn = connect(path)
    try:
        preparation.prepare_quarter(conn, quarters.parse_quarter("2026-Q1"), AFTER_Q1,
                                    scatter=SCATTER)
        after = conn.execute("SELECT content, content_sha256, status FROM reports"
                             " WHERE id = 1").fetchone()
        assert (after[0], after[1], after[2]) == (before[0], before[1], "signed")
        assert "method" not in qr.get_report(conn, 1)["content"]
        draft = qr.get_report(conn, 2)  # its correction, still a draft: the method in force
        assert draft["content"]["method"] == 2 and draft["status"] == "draft"
    finally:
        conn.close()


def test_the_hourly_pass_recomputes_a_draft_only_when_its_inputs_changed(
        conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zoning reads every reading of the quarter: the scheduler's hourly pass skips a
    draft whose inputs (rollups, emissions, generator changes, settings) are unchanged."""
    last = fill(conn, "dev", *Q1, STEP, 0.1)
    first = _report(conn)
    computed: list[int] = []
    real = preparation.compute

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        computed.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(preparation, "compute", counting)
    assert _report(conn) == first and computed == []
    _declare(conn, {"permanent": "non_regulated"})  # a setting changed
    assert _report(conn)["months"][0]["verdict"] == "consistent" and len(computed) == 1
    fill(conn, "dev", paris(2026, 3, 31, 23, 55), paris(2026, 4, 1), 60, 0.1, seq0=last + 1)
    _report(conn)  # a late reading of the quarter
    assert len(computed) == 2
    _report(conn)
    assert len(computed) == 2


def test_a_generator_never_off_falls_back_to_the_hours_without_emission(
        conn: sqlite3.Connection) -> None:
    """A generator left powered all quarter (or its input stuck): no hour with it off, so
    the hours without emission give the background; 0.12 µSv/h stays outside delimited
    areas, and no event is raised against a point declared so."""
    fill(conn, "dev", *Q1, STEP, 0.12)
    _generator(conn, [(paris(2025, 12, 20), paris(2026, 6, 1))])
    _declare(conn, {"permanent": "non_regulated"})
    c = _report(conn)
    assert c["zoning"]["generator_state"] == "journaled"
    assert c["zoning"]["background"]["method"] == "no_emission_median"
    assert [(m["zone"], m["verdict"]) for m in c["months"]] == [
        ("non_regulated", "consistent")] * 3
    assert _events(conn) == []


def test_without_any_quiet_hour_nothing_is_subtracted_and_nothing_is_concluded_above(
        conn: sqlite3.Connection) -> None:
    """Readings covering under half of every hour: no background can be measured. The
    gross figures are an upper bound: above the declared zone they prove nothing."""
    fill(conn, "dev", *Q1, STEP, 0.12)
    with write(conn):
        conn.execute("UPDATE readings SET seconds_covered = 100")
    _declare(conn, {"permanent": "non_regulated"})
    c = _report(conn)
    assert c["zoning"]["background"]["method"] == "none"
    january = c["months"][0]
    assert january["zone"] == "supervised"
    assert (january["verdict"], january["verdict_reasons"]) == (
        "undetermined", ["background_not_subtracted"])
    assert _events(conn) == []


def test_a_measured_background_above_nature_is_capped_and_the_zone_a_lower_bound(
        conn: sqlite3.Connection) -> None:
    """A steady field from next door (1 µSv/h more from February) is no natural background:
    at most 0.3 µSv/h is subtracted, and the zone it gives is a lower bound that still
    shows the declared zone exceeded."""
    last = fill(conn, "dev", Q1[0], paris(2026, 2, 1), STEP, 0.1)
    fill(conn, "dev", paris(2026, 2, 1), Q1[1], STEP, 1.1, seq0=last + 1)
    _declare(conn, {"permanent": "non_regulated"})
    c = _report(conn)
    background = c["zoning"]["background"]
    assert background["capped"] is True and background["measured_cpm"] == pytest.approx(165)
    assert background["cpm"] == pytest.approx(0.3 * 150)
    january, february, _ = c["months"]
    assert (january["zone"], january["verdict"], january["verdict_reasons"]) == (
        "non_regulated", "undetermined", ["lower_bound_below_declared"])
    assert february["zone"] == "supervised" and "background_capped" in february[
        "lower_bound_reasons"]
    assert (february["verdict"], february["verdict_reasons"]) == (
        "not_consistent", ["above_declared"])


def test_a_reading_ending_in_9999_does_not_carry_the_windows_along(
        conn: sqlite3.Connection) -> None:
    _with_hour(conn, 3000.0)
    with write(conn):
        conn.execute("UPDATE readings SET \"end\" = '9999-12-31T23:59:59Z' WHERE start = ?",
                     [iso(paris(2026, 2, 10, 9))])
        conn.execute("UPDATE readings SET dose_usv = 'x' WHERE start = ?",
                     [iso(paris(2026, 2, 11, 9))])
    march = _report(conn)["months"][2]
    assert (march["zone"], march["zone_by"]) == ("controlled_orange", "hour")
    assert march["max_window_start"] == iso(paris(2026, 3, 5, 10, 30))


def _with_a_26_hour_gap(conn: sqlite3.Connection, usv_h: float) -> None:
    """Readings every 5 minutes, but one-minute ones around a silence from 10 February
    10:01 to 11 February 11:59 (Paris)."""
    cut, back = paris(2026, 2, 10, 10), paris(2026, 2, 11, 12)
    last = fill(conn, "dev", Q1[0], cut, STEP, usv_h)
    last = fill(conn, "dev", cut, cut + 60, 60, usv_h, seq0=last + 1)
    last = fill(conn, "dev", back - 60, back, 60, usv_h, seq0=last + 1)
    fill(conn, "dev", back, Q1[1], STEP, usv_h, seq0=last + 1)


def test_a_gap_of_26_hours_is_measured_in_seconds_not_whole_hours(
        conn: sqlite3.Connection) -> None:
    """Readings stop at 10:01 and resume at 11:59 the next day: 24 whole clock hours are
    empty, but the probe was silent for almost 26 hours."""
    _with_a_26_hour_gap(conn, 0.1)
    c = _report(conn)
    assert [g["hours"] for g in c["gaps"]] == [24]
    assert c["zoning"]["long_gaps"] == [{"start": iso(paris(2026, 2, 10, 10, 1)),
                                         "end": iso(paris(2026, 2, 11, 11, 59)),
                                         "hours": 26.0}]


def test_the_document_says_why_a_report_does_not_stand_as_the_verification(
        conn: sqlite3.Connection) -> None:
    """A capped background, a 26-hour gap and an indicative calibration, as the document
    (the HTML frozen at signing) states them in French."""
    _with_a_26_hour_gap(conn, 1.1)
    page = render_html(_report(conn, scatter=()))
    assert "Ce rapport ne vaut pas vérification en continu" in page
    assert 'data-testid="report-long-gap"' in page and "26.0 heures sans aucune mesure" in page
    assert "étalonnage n&#39;est pas prévu pour le rayonnement diffusé X." in page
    assert 'data-testid="report-background-capped"' in page
    assert "165 coups par minute" in page
    assert 'data-testid="report-continuous"' not in page


def test_a_prepared_and_signed_report_with_a_26_hour_gap_does_not_close_the_verification(
        conn: sqlite3.Connection) -> None:
    """The gap as the report computes it and the calendar's condition, together: 24 whole
    empty clock hours passed the old count; the 26 hours measured do not."""
    _with_a_26_hour_gap(conn, 0.1)
    _report(conn)
    report_id = int(conn.execute("SELECT id FROM reports").fetchone()[0])
    with write(conn):
        qr.sign(conn, report_id, "Marie Curie", "marie", AFTER_Q1,
                lambda c: ("<html></html>", b"%PDF-1.4"),
                qr.get_report(conn, report_id)["content_sha256"])
    content = qr.get_report(conn, report_id)["content"]
    probe_due = date(2026, 12, 1)  # the probe's own check not overdue
    failures = check_report(content, probe_due)
    assert [(f.condition, f.params.get("hours")) for f in failures] == [("gap", 26.0)], failures
    without = {**content, "zoning": {**content["zoning"], "long_gaps": []}}
    assert check_report(without, probe_due) == []  # what whole clock hours alone let pass
