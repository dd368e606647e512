"""The room page's dose-rate chart as a PCR reads it (issue 16, item 7).

A room at work: 0.1 µSv/h of background and, every 5 minutes, 20 s of
emission at 300 µSv/h. Each 5-minute step of the 24 h chart then has a mean
of about 20 µSv/h, and a chart of means started its log axis at 10 µSv/h:
background was nowhere. The chart now draws each step's quietest minute and
starts its axis a decade under the lowest value. It also shows the exposures
as bands, the room's events as marks, Paris times and French numbers, and a
last hour that fetches itself again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.store import Store
from hub.timefmt import iso
from hub.web import chart, chart_axis
from tests.hub_factory import DEVICE, ROOM, SITE, T0, batch, core, exposure, reading, status
from tests.web_helpers import login, make_app
from wire.contract import EXPOSURES, READINGS

CYCLE_S = 300  # an emission every 5 minutes...
EMITTING = (20, 30)  # ... in these two 10 s readings of the cycle
BACKGROUND, FIELD = 0.1, 300.0


def work(start: float, stop: float, first_seq: int = 1) -> list[dict[str, Any]]:
    """10 s readings of a working room from ``start`` to ``stop``."""
    items: list[dict[str, Any]] = []
    for i, t in enumerate(range(int(start), int(stop), 10)):
        hot = (t - int(start)) % CYCLE_S in EMITTING
        items.append(reading(first_seq + i, start=iso(t), end=iso(t + 10),
                             mean_usv_h=FIELD if hot else BACKGROUND,
                             max_usv_h=FIELD * 1.2 if hot else BACKGROUND * 3))
    return items


def seed(path: Path, start: float, stop: float, received: float) -> int:
    """An hour of work, one exposure at its half (30 s) and a critical event in it; the
    next free journal sequence number."""
    store = Store.open(path)
    try:
        items = work(start, stop)
        seq = len(items) + 1
        ingest = core(store, now=start)
        ingest.handle_batch([
            status("online", start),
            batch(READINGS, items),
            batch(EXPOSURES, [exposure(seq, 1, "closed", start=iso(start + 1800),
                                       end=iso(start + 1830), alarms=["unsolicited_emission"],
                                       requested=False)]),
        ], received)
        assert ingest.stats()["rejected_total"] == 0
        store.open_event("unsolicited_emission", DEVICE, SITE, ROOM, "x:1", iso(start + 1830),
                         {}, severity="critical")
        store.conn.commit()
        return seq + 1
    finally:
        store.close()


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path)
    seed(tmp_path / "hub.db", T0, T0 + 3600, T0 + 3700)
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        login(client, "viewer")
        yield client


END = iso(T0 + 3600)  # the hour of work


def fragment(client: TestClient, lang: str = "fr", **params: str) -> str:
    response = client.get(f"/rooms/{DEVICE}/chart", params=params,
                          headers={"Accept-Language": lang})
    assert response.status_code == 200, response.text[:500]
    return str(response.text)


def ticks(html: str) -> dict[float, tuple[float, str]]:
    """The y ticks: µSv/h -> (y, label)."""
    found = re.findall(r'<text class="tick" data-testid="chart-y-tick" data-value="([^"]+)"'
                       r' x="[^"]+" y="([^"]+)"[^>]*>([^<]+)</text>', html)
    return {float(v): (float(y) - 4, label) for v, y, label in found}


def path_ys(html: str, testid: str) -> list[float]:
    d = re.search(rf'data-testid="{testid}" d="([^"]*)"', html)
    assert d is not None, testid
    return [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", d.group(1))]


def test_background_is_inside_the_24h_chart(client: TestClient) -> None:
    html = fragment(client, range="24h", end=END)
    y_ticks = ticks(html)
    assert min(y_ticks) == pytest.approx(0.01)  # a decade under the 0.1 of background
    assert max(y_ticks) == pytest.approx(1000)  # the decade above the 360 µSv/h peaks
    bottom = chart.HEIGHT - chart.BOTTOM
    lows = path_ys(html, "chart-low")
    assert len(lows) == 12  # each 5-minute step of the hour
    assert all(y == pytest.approx(y_ticks[0.1][0], abs=0.2) for y in lows)  # on 0.1
    assert all(y < bottom - 20 for y in lows)  # not clipped to the bottom
    means = path_ys(html, "chart-mean")  # each step's mean: (28 × 0.1 + 2 × 300) / 30
    assert all(y_ticks[100][0] < y < y_ticks[10][0] for y in means)


def test_last_hour_shows_background_in_its_minutes(client: TestClient) -> None:
    html = fragment(client, range="1h", end=END)
    assert 'data-range="1h" data-points="60"' in html
    assert 'data-live="true"' not in html  # a window that ended is not live
    y_ticks = ticks(html)
    assert min(y_ticks) < 1 and 0.1 in y_ticks
    quiet = [y for y in path_ys(html, "chart-mean") if y == pytest.approx(y_ticks[0.1][0])]
    assert len(quiet) >= 45  # 48 minutes of the hour hold no emission
    assert 'data-testid="chart-low"' not in html  # a minute step is its own quietest minute


def test_an_exposure_is_a_band_where_it_happened(client: TestClient) -> None:
    html = fragment(client, range="1h", end=END)
    bands = re.findall(r'<rect data-testid="chart-band" data-alarmed="(\w+)" x="([\d.]+)"'
                       r' y="[^"]+" width="([\d.]+)"', html)
    assert len(bands) == 1
    alarmed, x, width = bands[0]
    plot_w = chart.WIDTH - chart.LEFT - chart.RIGHT
    assert float(x) == pytest.approx(chart.LEFT + plot_w / 2, abs=0.2)  # half past
    assert float(width) == pytest.approx(plot_w * 30 / 3600, abs=0.2)
    assert alarmed == "true"
    assert "Émission 2026-01-05 08:30:00 – 08:30:30 (heure de Paris)" in html


def test_an_event_is_marked_with_its_name_and_paris_time(client: TestClient) -> None:
    html = fragment(client, range="24h", end=END)
    marks = re.findall(r'data-testid="chart-mark" data-kind="(\w+)" data-critical="(\w+)">\s*'
                       r"<title>([^<]+)</title>\s*<line x1=\"([\d.]+)\"", html)
    assert len(marks) == 1
    kind, critical, title, x = marks[0]
    assert (kind, critical) == ("unsolicited_emission", "true")
    assert title == "Émission inopinée · 2026-01-05 08:30:30 (heure de Paris)"
    svg = chart.Svg(t0=T0 + 3600 - 86400, t1=T0 + 3600)
    assert float(x) == pytest.approx(svg.x(T0 + 1830), abs=0.2)
    english = fragment(client, "en", range="24h", end=END)
    assert "Unsolicited emission · 2026-01-05 08:30:30 (Paris time)" in english


def test_ticks_in_french_and_paris_time(client: TestClient) -> None:
    french, english = (ticks(fragment(client, lang, range="1h", end=END))
                       for lang in ("fr", "en"))
    assert french[0.01][1] == "0,01" and french[0.1][1] == "0,1"
    assert french[1000][1] == "1\u202f000"
    assert english[0.01][1] == "0.01" and english[1000][1] == "1,000"
    html = fragment(client, range="24h", end=END)
    x_ticks = re.findall(r'data-testid="chart-x-tick"[^>]*>([^<]+)<', html)
    assert x_ticks[-1] == "09:00"  # 08:00 UTC in January
    assert "heure de Paris" in html and "<desc" in html and "<title" in html
    week = re.findall(r'data-testid="chart-x-tick"[^>]*>([^<]+)<',
                      fragment(client, range="7d", end=END))
    assert "lun. 05/01" in week


def test_bad_range_is_named(client: TestClient) -> None:
    response = client.get(f"/rooms/{DEVICE}/chart", params={"range": "year"},
                          headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert "Expected 1h, 24h, 7d or quarter." in response.text


def test_last_hour_is_live_and_shows_the_newest_readings(tmp_path: Path) -> None:
    now = time.time()
    start = now - 3600
    app = make_app(tmp_path)
    seq = seed(tmp_path / "hub.db", start, now - 180, now)
    with TestClient(app) as client:
        login(client, "viewer")
        before = fragment(client)
        assert 'data-range="1h"' in before and 'data-live="true"' in before
        assert 'hx-trigger="every 10s"' in before
        store = Store.open(tmp_path / "hub.db")
        try:
            newer = work(now - 170, now - 10, seq)
            core(store, now=now).handle_batch([batch(READINGS, newer)], time.time())
        finally:
            store.close()
        after = fragment(client)

    def last_x(html: str) -> float:
        d = re.search(r'data-testid="chart-mean" d="([^"]*)"', html)
        assert d is not None
        return float(re.findall(r"[ML]([\d.]+),", d.group(1))[-1])

    def points(html: str) -> int:
        found = re.search(r'data-points="(\d+)"', html)
        assert found is not None
        return int(found.group(1))

    assert points(after) > points(before)
    assert last_x(after) > last_x(before) + 2 * 884 / 60  # two minutes further right


def test_scale_keeps_background_off_the_floor() -> None:
    assert chart.scale([0.1, 0.2, 360]) == pytest.approx((0.01, 1000))
    assert chart.scale([0.0004]) == pytest.approx((chart.FLOOR, 1))  # never under 0.01
    assert chart.scale([]) == pytest.approx((chart.FLOOR, 1))
    assert chart_axis.places(0.01) == 2
