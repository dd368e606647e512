"""The incident timeline as an ESR declaration's annex: identification, the alarm with its
duration and dose, one line per pulse train, the chart, the signature, the PDF, the clamp."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect
from hub.db.store import Store
from hub.web import annex
from tests.web_helpers import login, make_app

DEVICE, SITE, ROOM, JOURNAL = "chu.salle-1", "chu", "salle-1", "j1"
DETECTED = "2026-01-05T07:00:06.000Z"
CLEARED = "2026-01-05T07:02:11.000Z"  # 2 min 05 s after detection
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = make_app(tmp_path, web={"establishment": "Centre hospitalier de Voyant"})
    app.state.clock = lambda: NOW
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def seed(app: FastAPI, cleared: str | None = CLEARED, opened_at: str = DETECTED) -> int:
    """An unsolicited emission naming exposure 4 (dose, peak), a pulse train of 31 edges in
    three records, readings around it, and the device's identity."""
    store = Store.open(app.state.store_path)
    try:
        with store.transaction():
            event_id = store.alarm_event(
                "unsolicited_emission", DEVICE, SITE, ROOM, f"{JOURNAL}:1:9", opened_at,
                {"subject": None, "journal": JOURNAL, "run": 1, "number": 9, "exposure": 4},
                "critical", cleared, opened_at)
    finally:
        store.close()
    conn = connect(app.state.store_path)
    conn.execute("INSERT OR REPLACE INTO devices (device, site, room, journal, agent) VALUES"
                 " (?, ?, ?, ?, '2.4.0')", [DEVICE, SITE, ROOM, JOURNAL])
    conn.execute("INSERT OR IGNORE INTO journals (device, journal, upto, started_at) VALUES"
                 " (?, ?, 0, '2025-11-02T10:00:00.000Z')", [DEVICE, JOURNAL])
    conn.execute("INSERT OR IGNORE INTO exposures (device, site, room, journal, run, number,"
                 " state, start, \"end\", duration_s, requested, max_dose_rate_usv_h, dose_usv,"
                 " pulses, calibration) VALUES (?, ?, ?, ?, 1, 4, 'closed',"
                 " '2026-01-05T07:00:04.000Z', '2026-01-05T07:00:14.500Z', 10.5, 0, 1234.5,"
                 " 3.25, 31, 'sbm20-60kV')",
                 [DEVICE, SITE, ROOM, JOURNAL])
    for seq, first, last, count, value in ((7, "07:00:04.000", "07:00:04.000", 1, 1),
                                           (8, "07:00:04.300", "07:00:05.200", 14, 0),
                                           (9, "07:00:06.000", "07:00:06.900", 16, 1)):
        conn.execute("INSERT OR IGNORE INTO changes VALUES (?, ?, ?, ?, ?, 1, 'emission', ?,"
                     " ?, ?, ?, 'edge', NULL, 1, 0, ?)",
                     [DEVICE, SITE, ROOM, JOURNAL, seq, value, f"2026-01-05T{first}Z",
                      f"2026-01-05T{last}Z", count, f"2026-01-05T{last}Z"])
    for i in range(40):  # one reading every 30 s from 06:50 on, the emission at 07:00
        start = datetime(2026, 1, 5, 6, 50, tzinfo=UTC).timestamp() + 30 * i
        rate = 800.0 if 20 <= i <= 20 else 0.12
        conn.execute("INSERT OR IGNORE INTO readings (device, site, room, journal, seq, run, start,"
                     " \"end\", mean_usv_h, mean_sigma_usv_h, max_usv_h, saturated,"
                     " calibration, clock_synced) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, 0.01, ?,"
                     " 0, 'sbm20-60kV', 1)",
                     [DEVICE, SITE, ROOM, JOURNAL, 100 + i, _iso(start), _iso(start + 30),
                      rate, rate * 1.5])
    conn.close()
    return event_id


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_the_annex_page_identifies_highlights_collapses_charts_and_has_a_signature(
        app: FastAPI, client: TestClient) -> None:
    event_id = seed(app)
    login(client, "pcr", username="marie")
    page = client.get(f"/events/{event_id}/timeline")  # French by default
    assert page.status_code == 200
    text = page.text
    ident = _section(text, "annex-identification")
    for fact in ("Centre hospitalier de Voyant", SITE, ROOM, DEVICE, "2.4.0", JOURNAL,
                 "sbm20-60kV", "Boîtier de surveillance"):
        assert fact in ident, fact
    alarm = _section(text, "annex-alarm")
    assert "Émission inopinée" in alarm or "mission inopin" in alarm
    assert re.search(r'data-testid="annex-alarm-duration"><strong>2 min 05 s<', alarm)
    assert "3,2500 µSv" in alarm and "1\u202f234,50 µSv/h" in alarm  # French numbers
    assert "2026-01-05 08:00:06 +01:00" in alarm  # Paris time with its offset
    runs = re.findall(r'data-testid="timeline-run" data-records="(\d+)">([^<]*)<', text)
    assert len(runs) == 1 and runs[0][0] == "3"  # 31 edges in three records: one line
    assert runs[0][1].startswith("31 changements en 2,9 s, de 2026-01-05 08:00:04 +01:00 à"
                                 " 2026-01-05 08:00:06 +01:00")
    assert text.count('data-testid="timeline-change"') == 1
    chart = _section(text, "annex-chart", "svg")
    assert chart.startswith("<svg") and 'data-points="40"' in chart and "<path" in chart
    assert "#d9d9d9" in chart  # the exposure's band
    signature = _section(text, "annex-signature")
    assert "conseiller en radioprotection (CRP)" in signature and "marie" in signature
    assert "Europe/Paris" in text and 'data-testid="timeline-pdf"' in text


def test_a_viewer_gets_a_blank_name_to_sign_and_an_ongoing_alarm_says_so(
        app: FastAPI, client: TestClient) -> None:
    event_id = seed(app, cleared=None)
    login(client, "viewer", username="paul")
    page = client.get(f"/events/{event_id}/timeline", headers={"Accept-Language": "en"})
    assert 'data-testid="annex-signer"></td>' in page.text
    assert re.search(r'data-testid="annex-alarm-duration"><strong>ongoing<', page.text)


def test_the_pdf_is_made_from_a_document_without_controls(
        app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    event_id = seed(app)
    seen: list[str] = []
    original = annex.pdf

    def capture(html: str) -> bytes:
        seen.append(html)
        return original(html)

    monkeypatch.setattr(annex, "pdf", capture)
    login(client, "pcr", username="marie")
    response = client.get(f"/events/{event_id}/timeline.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and len(response.content) > 10_000
    [html] = seen
    assert not re.search(r"<(form|button|input|select|textarea)\b", html, re.IGNORECASE)
    for testid in ("annex-identification", "annex-alarm", "annex-chart", "annex-signature",
                   "timeline-run"):
        assert f'data-testid="{testid}"' in html, testid
    assert client.get(f"/events/{event_id}/timeline.pdf?after_min=-1").status_code == 422


def test_the_window_never_runs_past_the_time_of_printing(
        app: FastAPI, client: TestClient) -> None:
    """Detected at 08:50 UTC and still ongoing: 30 minutes after would be 09:20, ten
    minutes past now (09:00): the window ends at now, and says so."""
    event_id = seed(app, cleared=None, opened_at="2026-01-05T08:50:00.000Z")
    login(client, "viewer")
    page = client.get(f"/events/{event_id}/timeline")
    assert 'data-end="2026-01-05T09:00:00.000Z"' in page.text
    assert 'data-testid="annex-window-clamped"' in page.text
    api = client.get(f"/api/events/{event_id}/timeline?after_min=600").json()
    assert api["end"] == "2026-01-05T09:00:00.000Z" and api["end_clamped"] is True


def test_a_window_ended_before_now_is_left_as_it_is(app: FastAPI, client: TestClient) -> None:
    event_id = seed(app)
    login(client, "viewer")
    page = client.get(f"/events/{event_id}/timeline").text
    assert 'data-end="2026-01-05T07:32:11.000Z"' in page  # 30 min after the condition ended
    assert 'data-testid="annex-window-clamped"' not in page


def test_times_carry_their_offset_across_the_october_change() -> None:
    assert annex.when("2026-10-25T00:30:00.000Z") == "2026-10-25 02:30:00 +02:00"
    assert annex.when("2026-10-25T01:30:00.000Z") == "2026-10-25 02:30:00 +01:00"
    assert annex.when("2026-02-30T00:00:00Z") == "2026-02-30T00:00:00Z"  # as stored


def _section(html: str, testid: str, tag: str = r"\w+") -> str:
    match = re.search(rf'<({tag})\b[^>]*data-testid="{testid}"', html)
    assert match, testid
    end = html.index(f"</{match.group(1)}>", match.start())
    return html[match.start():end + len(match.group(1)) + 3]
