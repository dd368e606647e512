"""The reconciliation's matching (#17 item 4), pure: emissions and irradiation events by time
coverage after the device's clock offset, the verdicts of what is left over, per-study
times."""

from __future__ import annotations

from datetime import date

from hub.rdsr.reconcile import (
    DayRecord,
    Emission,
    Inputs,
    Irradiation,
    Study,
    Window,
    best_offset,
    match,
)

T0 = 1_767_600_000.0  # 2026-01-05T08:00:00Z, 09:00 in Paris
DAY = 86400.0
NOW = T0 + DAY  # a day later: everything past the 6 h wait
WAIT = 6 * 3600.0


def em(number: int, start: float, seconds: float) -> Emission:
    return Emission("box", "j", 1, number, start, start + seconds, seconds)


def ev(uid: str, start: float, seconds: float, study: str = "S1", imaging: int = 1,
       fluoroscopy: bool = False) -> Irradiation:
    return Irradiation(uid, study, imaging, start, seconds, fluoroscopy)


def run(emissions: list[Emission], events: list[Irradiation], **more: object) -> Inputs:
    given: dict[str, object] = {"start": T0 - 3600, "end": T0 + 3 * 3600, "now": NOW,
                                "wait_s": WAIT, "tolerance_s": 3.0, "emissions": emissions,
                                "irradiations": events, **more}
    return Inputs(**given)  # type: ignore[arg-type]


def verdicts(inputs: Inputs) -> dict[int, str]:
    return {r.emission.number: r.verdict for r in match(inputs).emissions}


def test_pedal_presses_covered_by_one_event() -> None:
    """A Philips-like fluoroscopy event of 13 s covers three presses of the pedal."""
    presses = [em(1, T0, 3.0), em(2, T0 + 5, 2.5), em(3, T0 + 10, 3.0)]
    result = match(run(presses, [ev("E1", T0 - 0.3, 13.1)]))
    assert [r.verdict for r in result.emissions] == ["matched"] * 3
    assert [r.events for r in result.emissions] == [("E1",)] * 3
    assert [e.verdict for e in result.events] == ["matched"]
    assert result.events[0].emissions == tuple(p.key for p in presses)
    assert sorted(uid for _key, uid in result.pairs) == ["E1", "E1", "E1"]


def test_a_siemens_like_grouping_one_emission_over_several_events() -> None:
    """Events to the second (pulses / rate as their duration): one long press spans two
    events; a press between two events, a second before the next, still matches."""
    long_press = em(1, T0, 9.0)
    events = [ev("A", T0, 3.2), ev("B", T0 + 5, 4.0), ev("C", T0 + 60, 3.0)]
    late = em(2, T0 + 57.5, 1.0)  # ends 1.5 s before C: within the 3 s tolerance
    result = match(run([long_press, late], events))
    assert result.emissions[0].events == ("A", "B")
    assert result.emissions[1].events == ("C",)
    (study,) = result.studies
    assert study.voyant_s == 10.0 and study.events == 3


def test_an_emission_with_no_study_at_all_is_critical() -> None:
    result = match(run([em(1, T0 + 7200, 4.0)], [ev("A", T0, 3.0), ev("B", T0 + 600, 3.0)]))
    (item,) = result.emissions
    assert item.verdict == "no_study" and item.studies == ()


def test_inside_a_study_lacking_the_event_is_a_warning() -> None:
    result = match(run([em(1, T0 + 300, 4.0)], [ev("A", T0, 3.0), ev("B", T0 + 600, 3.0)]))
    (item,) = result.emissions
    assert item.verdict == "study_lacks_event" and item.studies == ("S1",)


def test_an_event_without_emission() -> None:
    result = match(run([em(1, T0, 3.0)], [ev("A", T0, 3.0), ev("B", T0 + 600, 3.0)]))
    assert [(e.irradiation.uid, e.verdict) for e in result.events] == [
        ("A", "matched"), ("B", "without_emission")]


def test_excluded_only_inside_a_recorded_window() -> None:
    window = Window(T0 + 1000, T0 + 2000, "verification", 7, "periodic_generator")
    day = DayRecord(date(2026, 1, 5), "occasion", 3, "maintenance")
    result = match(run([em(1, T0 + 1500, 2.0), em(2, T0 + 2500, 2.0)], [],
                       windows=[window], days=[day]))
    inside, after = result.emissions
    assert inside.verdict == "excluded" and inside.window == window
    assert after.verdict == "no_study" and after.days == (day,)  # said, never hidden


def test_pending_before_the_wait() -> None:
    young = run([em(1, T0, 3.0)], [ev("B", T0 + 600, 3.0)], now=T0 + 3600)
    result = match(young)
    assert result.emissions[0].verdict == "pending"
    assert result.events[0].verdict == "pending"
    assert verdicts(run([em(1, T0, 3.0)], [], now=T0 + WAIT + 4)) == {1: "no_study"}


def test_the_clock_offset_is_corrected() -> None:
    """The device's clock is 2 min 10 s ahead: uncorrected, nothing matches."""
    emissions = [em(1, T0, 3.0), em(2, T0 + 400, 3.0)]
    events = [ev("A", T0 + 130, 3.0), ev("B", T0 + 530.5, 2.0)]
    assert verdicts(run(emissions, events)) == {1: "no_study", 2: "study_lacks_event"}
    corrected = match(run(emissions, events, offsets={1: 130.0}))
    assert [r.events for r in corrected.emissions] == [("A",), ("B",)]
    assert corrected.events[0].start == T0 and corrected.events[0].offset_s == 130.0


def test_per_study_times_and_difference() -> None:
    emissions = [em(1, T0, 3.0), em(2, T0 + 10, 2.0), em(3, T0 + 100, 4.0)]
    events = [ev("A", T0, 13.0), ev("B", T0 + 100, 4.0, study="S2", imaging=2)]
    studies = {"S1": Study("S1", 4.0, 0.5), "S2": Study("S2", None, None)}
    result = match(run(emissions, events, studies=studies))
    s1, s2 = result.studies
    assert (s1.uid, s1.voyant_s, s1.rdsr_s, s1.difference_s) == ("S1", 5.0, 4.5, 0.5)
    assert (s2.uid, s2.imaging, s2.voyant_s, s2.rdsr_s, s2.difference_s) == (
        "S2", 2, 4.0, None, None)


def test_only_the_range_is_judged_but_the_margins_help() -> None:
    """An emission before the range is not judged, but the event it covers in the range
    is matched; a study started before the range still spans an emission in it."""
    start = T0
    inputs = run([em(1, T0 - 2, 4.0), em(2, T0 + 900, 2.0)],
                 [ev("A", T0 + 1, 2.0), ev("Z", T0 - 1800, 2.0), ev("Y", T0 + 1800, 2.0)],
                 start=start)
    result = match(inputs)
    assert [r.emission.number for r in result.emissions] == [2]
    assert result.emissions[0].verdict == "study_lacks_event"
    assert [(e.irradiation.uid, e.verdict) for e in result.events] == [
        ("A", "matched"), ("Y", "without_emission")]


def test_an_estimate_covering_fewer_events_than_none_is_not_used() -> None:
    """Two events and two pedal presses of the first: the one-to-one pairing takes the
    second press for the second event, a median of 5 min that is no clock."""
    presses = [em(1, T0 + 1, 3.0), em(2, T0 + 6, 2.0)]
    events = [ev("A", T0, 13.0), ev("B", T0 + 600, 3.0)]
    assert best_offset(presses, events, 296.5, 3.0) == 0.0
    assert best_offset(presses, events, None, 3.0) == 0.0
    ahead = [ev("A", T0 + 130, 13.0), ev("B", T0 + 730, 3.0)]
    assert best_offset([*presses, em(3, T0 + 600, 3.0)], ahead, 130.0, 3.0) == 130.0


def test_a_grouped_fluoroscopy_event_covers_its_later_presses_within_its_on_time() -> None:
    """Philips: one fluoroscopy event of 13.1 s on-time over four presses spanning 41 s.
    Its later presses are covered (up to the device's next event); an unsolicited emission
    three minutes after the study's last event is not: the presses used the on-time."""
    presses = [em(1, T0, 3.2), em(2, T0 + 12, 3.2), em(3, T0 + 25, 3.4), em(4, T0 + 38, 3.2)]
    events = [ev("E1", T0, 13.1, fluoroscopy=True), ev("E2", T0 + 120, 2.0),
              ev("E3", T0 + 300, 3.2, fluoroscopy=True)]
    acquisition = em(5, T0 + 120, 2.0)
    last = em(6, T0 + 300, 3.2)
    stray = em(7, T0 + 480, 4.0)  # three minutes after E3, well within the 10 min cap
    result = match(run([*presses, acquisition, last, stray], events))
    assert verdicts(run([*presses, acquisition, last, stray], events)) == {
        1: "matched", 2: "matched", 3: "matched", 4: "matched", 5: "matched", 6: "matched",
        7: "no_study"}
    assert [r.events for r in result.emissions[:4]] == [("E1",)] * 4
    first = result.events[0]
    assert first.emissions == tuple(p.key for p in presses) and first.end == T0 + 41.2
    assert result.studies[0].voyant_s == sum(p.duration_s for p in [*presses, acquisition,
                                                                    last])


def test_a_grouped_event_stops_at_the_next_event_and_at_the_cap() -> None:
    presses = [em(1, T0, 2.0), em(2, T0 + 20, 2.0), em(3, T0 + 40, 2.0)]
    # The device's next event starts before the third press: that press is not E1's.
    nearby = [ev("E1", T0, 8.0, fluoroscopy=True), ev("E2", T0 + 39, 0.5)]
    assert [r.events for r in match(run(presses, nearby)).emissions] == [
        ("E1",), ("E1",), ("E2",)]
    # A cap of 30 s: the third press, 40 s after the start, is left out.
    capped = match(run(presses, [ev("E1", T0, 8.0, fluoroscopy=True)], group_max_s=30.0))
    assert [r.verdict for r in capped.emissions] == ["matched", "matched", "no_study"]
    # Not a fluoroscopy event (an acquisition, a Siemens run): its on-time interval only.
    alone = match(run(presses, [ev("A1", T0, 8.0)]))
    assert [r.verdict for r in alone.emissions] == ["matched", "no_study", "no_study"]


def test_an_emission_outlasting_the_recorded_hours_is_not_excluded() -> None:
    """A stuck emission that starts during a verification and runs on after it ends."""
    window = Window(T0, T0 + 3600, "verification", 7, "periodic_generator")
    inside, stuck = em(1, T0 + 600, 20.0), em(2, T0 + 3500, 400.0)
    edge = em(3, T0 + 3590, 12.0)  # ends 2 s after: within the 3 s tolerance
    result = match(run([inside, stuck, edge], [], windows=[window]))
    assert [r.verdict for r in result.emissions] == ["excluded", "no_study", "excluded"]


def test_emissions_before_the_feed_started_are_counted_not_judged() -> None:
    """The device sent its first report at T0 + 2 h: the morning before is no finding."""
    morning = [em(n, T0 - 3000 + 600 * n, 3.0) for n in range(1, 5)]
    after = em(9, T0 + 7300, 3.0)
    result = match(run([*morning, after], [ev("A", T0 + 7300, 3.0)], feed_start=T0 + 7200))
    assert [(r.emission.number, r.verdict) for r in result.emissions] == [(9, "matched")]
    assert result.before_feed == 4
