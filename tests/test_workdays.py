"""French working days and the ESR declaration deadline (hub/workdays.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.workdays import (
    add_working_days,
    declaration_due,
    easter,
    holidays,
    is_working_day,
    local_date,
)


@pytest.mark.parametrize(("year", "sunday"), [
    (2019, date(2019, 4, 21)), (2024, date(2024, 3, 31)), (2025, date(2025, 4, 20)),
    (2026, date(2026, 4, 5)), (2027, date(2027, 3, 28)),
    (2285, date(2285, 3, 22)),  # the earliest possible date
    (2038, date(2038, 4, 25)),  # the latest possible date
])
def test_easter_by_the_computus(year: int, sunday: date) -> None:
    assert easter(year) == sunday
    assert sunday.weekday() == 6


def test_easter_before_the_gregorian_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="1583"):
        easter(1500)


def test_the_holidays_of_2026() -> None:
    assert sorted(holidays(2026)) == [
        date(2026, 1, 1), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 8),
        date(2026, 5, 14), date(2026, 5, 25), date(2026, 7, 14), date(2026, 8, 15),
        date(2026, 11, 1), date(2026, 11, 11), date(2026, 12, 25)]


def test_the_moveable_holidays_of_2027() -> None:
    found = {name: day for day, name in holidays(2027).items()}
    assert found["Easter Monday"] == date(2027, 3, 29)
    assert found["Ascension Day"] == date(2027, 5, 6)
    assert found["Whit Monday"] == date(2027, 5, 17)
    assert "Good Friday" not in found


def test_alsace_moselle_adds_good_friday_and_st_stephen() -> None:
    extra = set(holidays(2026, alsace_moselle=True)) - set(holidays(2026))
    assert extra == {date(2026, 4, 3), date(2026, 12, 26)}


def test_weekends_and_holidays_are_not_working_days() -> None:
    assert is_working_day(date(2026, 1, 5))  # a Monday
    assert not is_working_day(date(2026, 1, 3))  # Saturday
    assert not is_working_day(date(2026, 1, 4))  # Sunday
    assert not is_working_day(date(2026, 7, 14))  # Tuesday, Bastille Day
    assert is_working_day(date(2026, 4, 3))  # Good Friday: worked outside Alsace-Moselle
    assert not is_working_day(date(2026, 4, 3), alsace_moselle=True)


def test_the_day_of_detection_does_not_count() -> None:
    assert add_working_days(date(2026, 1, 5), 0) == date(2026, 1, 5)
    assert add_working_days(date(2026, 1, 5), 1) == date(2026, 1, 6)  # Monday -> Tuesday
    assert add_working_days(date(2026, 1, 5), 2) == date(2026, 1, 7)


def test_a_weekend_is_skipped() -> None:
    assert add_working_days(date(2026, 1, 8), 2) == date(2026, 1, 12)  # Thursday -> Monday
    assert add_working_days(date(2026, 1, 9), 2) == date(2026, 1, 13)  # Friday -> Tuesday
    assert add_working_days(date(2026, 1, 10), 2) == date(2026, 1, 13)  # Saturday -> Tuesday
    assert add_working_days(date(2026, 1, 11), 2) == date(2026, 1, 13)  # Sunday -> Tuesday


def test_the_ascension_bridge() -> None:
    # Wednesday 13 May 2026; Thursday 14 is Ascension; Friday 15 (the "pont") is worked.
    assert add_working_days(date(2026, 5, 13), 2) == date(2026, 5, 18)
    # Friday 22 May; Monday 25 is Whit Monday.
    assert add_working_days(date(2026, 5, 22), 2) == date(2026, 5, 27)


def test_easter_and_christmas_with_and_without_alsace_moselle() -> None:
    # Thursday 2 April 2026: Good Friday 3, Easter Monday 6.
    assert add_working_days(date(2026, 4, 2), 2) == date(2026, 4, 7)
    assert add_working_days(date(2026, 4, 2), 2, alsace_moselle=True) == date(2026, 4, 8)
    # Wednesday 24 December 2025: 25 holiday, 26 only in Alsace-Moselle.
    assert add_working_days(date(2025, 12, 24), 2) == date(2025, 12, 29)
    assert add_working_days(date(2025, 12, 24), 2, alsace_moselle=True) == date(2025, 12, 30)


def test_a_year_boundary() -> None:
    # Wednesday 31 December 2025 -> 1 January is a holiday -> Friday 2, Monday 5.
    assert add_working_days(date(2025, 12, 31), 2) == date(2026, 1, 5)


def test_the_day_is_the_french_one_not_the_utc_one() -> None:
    late = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)  # 00:30 on Tuesday 6 in Paris
    assert local_date(late) == date(2026, 1, 6)
    assert declaration_due(late) == date(2026, 1, 8)
    summer = datetime(2026, 7, 13, 22, 30, tzinfo=UTC)  # 00:30 on 14 July (UTC+2)
    assert declaration_due(summer) == date(2026, 7, 16)
    naive = datetime(2026, 1, 5, 23, 30)  # taken as UTC
    assert declaration_due(naive) == date(2026, 1, 8)


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        add_working_days(date(2026, 1, 5), -1)


def test_every_due_date_is_a_working_day_two_working_days_later() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    for hours in range(0, 24 * 366, 7):
        moment = start + timedelta(hours=hours)
        due = declaration_due(moment, alsace_moselle=hours % 2 == 0)
        assert is_working_day(due, alsace_moselle=hours % 2 == 0)
        between = [local_date(moment) + timedelta(days=d)
                   for d in range(1, (due - local_date(moment)).days + 1)]
        assert sum(is_working_day(d, hours % 2 == 0) for d in between) == 2
