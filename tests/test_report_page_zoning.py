"""The quarterly report's page, HTML and PDF with the zoning method of issue 15 (method 2), a
report signed before it still shown as it was, and the amended report that replaces one.

Readings are written straight into the store (tests/report_data.py): a quarter of background
(0.1 µSv/h) at one point, a day without data in February, and 3 mSv between 10:30 and 11:30
(Paris) on 5 March during a pulsed emission; the point is declared "zone surveillée".
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db.connection import connect, write
from hub.reports import points as pts
from hub.reports import preparation, quarters
from hub.reports import quarterly as qr
from hub.reports.quarterly import store_figures
from hub.timefmt import iso
from tests.report_data import JOURNAL, SITE, device, fill, paris
from tests.web_helpers import api_token, bearer, csrf, login, make_app

AFTER_Q1 = datetime(2026, 4, 2, 8, tzinfo=UTC)
CAL = "sbm20/Cs-137"
STEP = 300


def _app(tmp_path: Path, scatter: list[str]) -> FastAPI:
    app = make_app(tmp_path, reports={"xray_scatter_calibrations": scatter})
    app.state.clock = lambda: AFTER_Q1
    return app


@pytest.fixture
def indicative(tmp_path: Path) -> FastAPI:
    """The default calibration (Cs-137) is not one for X-ray scatter: zones indicative."""
    return _app(tmp_path, [])


@pytest.fixture
def scatter(tmp_path: Path) -> FastAPI:
    """The site says its calibration is one for X-ray scatter: verdicts decide."""
    return _app(tmp_path, [CAL])


def _readings(conn: sqlite3.Connection) -> pts.Point:
    """The quarter described above, and the probe point declared "supervised"."""
    device(conn, "dev", "salle-1", paris(2025, 12, 1))
    last = fill(conn, "dev", paris(2026, 1, 1), paris(2026, 2, 10), STEP, 0.1)
    last = fill(conn, "dev", paris(2026, 2, 11), paris(2026, 3, 5, 10, 30), STEP, 0.1,
                seq0=last + 1)  # 10 February: no data
    last = fill(conn, "dev", paris(2026, 3, 5, 10, 30), paris(2026, 3, 5, 11, 30), STEP,
                3000.0, seq0=last + 1, peak=9000.0)
    fill(conn, "dev", paris(2026, 3, 5, 11, 30), paris(2026, 4, 1), STEP, 0.1, seq0=last + 1)
    with write(conn):
        conn.execute(
            'INSERT INTO exposures (device, site, room, journal, run, number, last_seq, event,'
            ' state, start, "end", duration_s, pulses) VALUES (?, ?, ?, ?, 1, 1, 1, ?, ?, ?,'
            ' ?, 60, 120)', ["dev", SITE, "salle-1", JOURNAL, "closed", "closed",
                             iso(paris(2026, 3, 5, 10, 40)), iso(paris(2026, 3, 5, 10, 41))])
        pts.ensure_probe_points(conn)
        point = pts.list_points(conn, device="dev", kind="probe")[0]
        return pts.set_zoning(conn, point, {"permanent": "supervised"}, None)


def _prepare(app: FastAPI, conn: sqlite3.Connection) -> int:
    point = _readings(conn)
    cfg = app.state.config
    return preparation.prepare(conn, point, quarters.parse_quarter("2026-Q1"), cfg.zoning,
                               cfg.reports.high_coverage, AFTER_Q1, "pcr",
                               cfg.reports.xray_scatter_calibrations)


def _row(page: str, testid: str, month: str) -> str:
    table = page.split(f'data-testid="{testid}"', 1)[1].split("</table>", 1)[0]
    return table.split(f'data-month="{month}"', 1)[1].split("</tr>", 1)[0]


def _text(html: str) -> str:
    """The page's text, tags removed and the source's spaces folded (a sentence may wrap in
    the source); a narrow no-break space, French typography's, is kept."""
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def test_an_indicative_report_says_so_first_with_the_window_and_the_lower_bound(
        indicative: FastAPI) -> None:
    conn = connect(indicative.state.store_path)
    rid = _prepare(indicative, conn)
    with TestClient(indicative) as client:
        login(client, "viewer")
        page = client.get(f"/reports/{rid}").text
        text = _text(page)
        # the banner comes right under the title, before the report's facts
        head = text.split("Vérification trimestrielle des lieux de travail · 2026-Q1", 1)[1]
        assert head.lstrip().startswith(
            "Zonage indicatif\u202f: étalonnage non prévu pour le rayonnement diffusé X "
            "(sbm20/Cs-137)")
        assert 'data-background="no_emission_median"' in page
        assert "heures sans émission (ce boîtier ne journalise pas l'état du générateur)" in text
        assert "estimateur de la dose efficace" in text
        march = _text(_row(page, "report-months", "2026-03"))
        assert "le 2026-03-05, entre 10:30 et 11:30" in march
        zones = _row(page, "report-zones", "2026-03")
        assert 'data-zone="controlled_orange"' in zones and 'data-verdict="undetermined"' in zones
        assert "Contrôlée orange" in zones and "horaire" in zones
        assert "étalonnage non prévu pour le rayonnement diffusé X" in _text(zones)
        february = _row(page, "report-zones", "2026-02")
        assert 'data-lower-bound="true"' in february
        assert ("borne inférieure\u202f: couverture incomplète, heures sans données"
                in _text(february))
        assert "Hors zone délimitée" in _row(page, "report-zones", "2026-01")
        assert 'data-verdict="undetermined"' in page.split('data-testid="report-verdict"')[1]
        assert "Borne inférieure\u202f: un tube GM perd des coups dans chaque impulsion." in text
        assert "9 mSv/h, le 2026-03-05 10:40:00" in text
        assert "arrêté du 15 mai 2006 modifié" in text
        for word in ("Contrôle d", "non réglementé", "dose efficace corps entier\u202f;"):
            assert word not in text
        # the standalone document (what the PDF prints) says the same
        html = _text(client.get(f"/reports/{rid}.html").text)
        assert "Zonage indicatif\u202f: étalonnage non prévu" in html
        assert "le 2026-03-05, entre 10:30 et 11:30" in html and "BROUILLON" in html
        pdf = client.get(f"/reports/{rid}.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    conn.close()


def test_a_scatter_calibration_gives_a_verdict_and_its_event(scatter: FastAPI) -> None:
    conn = connect(scatter.state.store_path)
    rid = _prepare(scatter, conn)
    with TestClient(scatter) as client:
        login(client, "viewer")
        client.cookies.set("lang", "en")
        page = client.get(f"/reports/{rid}").text
        assert 'data-testid="report-indicative"' not in page
        march = _row(page, "report-zones", "2026-03")
        assert 'data-verdict="not_consistent"' in march
        assert "not consistent" in march and "above the declared zone" in march
        assert "2026-03-05, between 10:30 and 11:30" in _row(page, "report-months", "2026-03")
        quarter = page.split('data-testid="report-highest-zone"', 1)[1].split("</tr>", 1)[0]
        assert "Controlled orange" in quarter and "2026-03" in quarter and "hourly" in quarter
        assert "sbm20/Cs-137 (for X-ray scatter)" in _text(page)
        assert "Outside delimited areas" in _row(page, "report-zones", "2026-01")
    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'zone_not_consistent'"
                        ).fetchone()[0] == 1
    conn.close()


def _as_signed_before(conn: sqlite3.Connection, report_id: int) -> dict[str, Any]:
    """Turn a draft into what a hub before issue 15 prepared (schema 4, no ``method``) and
    sign it with a stand-in renderer."""
    content = qr.get_report(conn, report_id)["content"]
    for key in ("method", "indicative", "zoning", "highest_zone_month", "highest_zone_by",
                "verdict"):
        content.pop(key)
    for month in content["months"]:
        for key in [k for k in month if k.startswith(("net_", "max_window", "zone_lower",
                                                      "lower_bound", "off_", "peak_",
                                                      "declared", "verdict"))]:
            month.pop(key)
        month["max_hour_dose_usv"], month["max_hour_at"] = 3000.0, iso(paris(2026, 3, 5, 10))
    content["schema"] = 4
    with write(conn):
        store_figures(conn, report_id, content, AFTER_Q1, force=True)
    digest = qr.get_report(conn, report_id)["content_sha256"]
    with write(conn):
        qr.sign(conn, report_id, "A. Martin", "pcr", AFTER_Q1,
                lambda c: ("<html></html>", b"%PDF-stand-in"), digest)
    return qr.get_report(conn, report_id)


def test_a_report_signed_before_renders_as_before_and_is_amended(scatter: FastAPI) -> None:
    conn = connect(scatter.state.store_path)
    rid = _prepare(scatter, conn)
    old = _as_signed_before(conn, rid)
    with TestClient(scatter) as client:
        login(client, "pcr")
        page = client.get(f"/reports/{rid}").text
        assert "Plus forte dose en une heure" in page and 'data-zone="controlled_orange"' in page
        for new in ("report-method", "report-zones", "report-indicative", "report-amends"):
            assert f'data-testid="{new}"' not in page
        assert 'data-testid="form-amend"' in page
        assert "Préparer un rapport modificatif (méthode en vigueur)" in page
        made = client.post(f"/reports/{rid}/amend", data={"csrf_token": csrf(client)},
                           follow_redirects=False)
        assert made.status_code == 303
        new_id = int(made.headers["location"].rsplit("/", 1)[1])
        amended = qr.get_report(conn, new_id)
        assert (amended["version"], amended["status"], amended["supersedes"]) == (2, "draft",
                                                                                 rid)
        assert amended["content"]["method"] == 2
        assert amended["content"]["amends"] == {
            "report": rid, "version": 1, "content_sha256": old["content_sha256"], "method": 1,
            "signed_at": old["signed_at"], "signer_name": "A. Martin"}
        text = _text(client.get(f"/reports/{new_id}").text)
        assert ("Rapport modificatif\u202f: remplace la version 1 signée le 2026-04-02 10:00 par "
                f"A. Martin, empreinte {old['content_sha256']}.") in text
        assert "ancienne méthode de zonage" in text
        # the signed version is left as it was, and cannot be amended twice
        assert qr.get_report(conn, rid)["content_sha256"] == old["content_sha256"]
        again = client.post(f"/reports/{rid}/amend", data={"csrf_token": csrf(client)})
        assert again.status_code == 409 and "déjà été corrigée" in again.text
        draft = client.post(f"/reports/{new_id}/amend", data={"csrf_token": csrf(client)})
        assert draft.status_code == 409 and 'data-testid="report-refused"' in draft.text
    actions = [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions.count("report.amend") == 1
    conn.close()


def test_the_amend_api(scatter: FastAPI) -> None:
    conn = connect(scatter.state.store_path)
    rid = _prepare(scatter, conn)
    with TestClient(scatter) as client:
        pcr = bearer(api_token(client, "pcr"))
        viewer = bearer(api_token(client, "viewer"))
        refused = client.post(f"/api/reports/{rid}/amend", headers=pcr)
        assert refused.status_code == 409
        assert "Only a signed report" in refused.json()["detail"][0]["msg"]
        digest = client.get(f"/api/reports/{rid}", headers=pcr).json()["content_sha256"]
        signed = client.post(f"/api/reports/{rid}/sign", headers=pcr,
                             json={"name": "A. Martin", "content_sha256": digest})
        assert signed.status_code == 200, signed.text
        assert client.post(f"/api/reports/{rid}/amend", headers=viewer).status_code == 403
        made = client.post(f"/api/reports/{rid}/amend", headers=pcr)
        assert made.status_code == 200, made.text
        body = made.json()
        assert (body["version"], body["supersedes"]) == (2, rid)
        assert body["content"]["amends"]["method"] == 2
        assert body["content"]["amends"]["content_sha256"] == signed.json()["content_sha256"]
        assert client.post(f"/api/reports/{rid}/amend", headers=pcr).status_code == 409
        assert client.post("/api/reports/999/amend", headers=pcr).status_code == 404
    detail = conn.execute("SELECT detail FROM audit WHERE action = 'report.amend'").fetchone()[0]
    assert json.loads(detail)["supersedes"] == rid
    conn.close()


def test_signing_a_report_with_hours_without_data_asks_to_say_they_were_seen(
        indicative: FastAPI) -> None:
    """10 February has no data: the page signs only once the signer ticked that they saw
    it, and the document says "pas de données" for what was not measured."""
    conn = connect(indicative.state.store_path)
    rid = _prepare(indicative, conn)
    digest = qr.get_report(conn, rid)["content_sha256"]
    with TestClient(indicative) as client:
        login(client, "pcr")
        page = client.get(f"/reports/{rid}").text
        assert 'data-testid="sign-missing-data"' in page and "24 heures du trimestre" in page
        form = {"csrf_token": csrf(client), "name": "A. Martin", "content_sha256": digest}
        refused = client.post(f"/reports/{rid}/sign", data=form)
        assert refused.status_code == 422
        assert "cochez la case pour dire que vous les avez vues" in _text(refused.text)
        assert qr.get_report(conn, rid)["status"] == "draft"
        signed = client.post(f"/reports/{rid}/sign", data={**form, "missing_data": "seen"},
                             follow_redirects=False)
        assert signed.status_code == 303, signed.text
        assert qr.get_report(conn, rid)["status"] == "signed"
    conn.close()


@pytest.mark.parametrize(("lang", "typed", "stored"), [  # the rest: tests/test_numbers.py
    ("fr", "12,5", 12.5), ("en", "1,234", 1234.0),
])
def test_a_measurement_is_typed_as_the_page_language_writes_numbers(
        indicative: FastAPI, lang: str, typed: str, stored: float) -> None:
    conn = connect(indicative.state.store_path)
    rid = _prepare(indicative, conn)
    with TestClient(indicative) as client:
        login(client, "pcr")
        client.cookies.set("lang", lang)
        done = client.post(f"/reports/{rid}/measurements", data={
            "csrf_token": csrf(client), "kind": "spot_check", "measured_on": "2026-02-01",
            "value": typed, "measured_by": "PCR"}, follow_redirects=False)
        assert done.status_code == 303, done.text
        refused = client.post(f"/reports/{rid}/measurements", data={
            "csrf_token": csrf(client), "kind": "spot_check", "measured_on": "2026-02-01",
            "value": "12,5 µSv", "measured_by": "PCR"})
        assert refused.status_code == 422
    assert conn.execute("SELECT value FROM report_measurements").fetchone()[0] == stored
    conn.close()
