"""Measurement points: a probe point per device, manual points, zoning thresholds per site and
per point, and the zone of a month."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.config import Zoning, parse_config
from hub.db import migrations
from hub.db.connection import connect
from hub.db.store import Store
from hub.jobs import prepare_reports
from hub.reports import points as pts
from tests.report_data import device, paris
from tests.web_helpers import api_token, bearer, csrf, login, make_app
from wire.errors import ConfigError

DOMAIN = {"non_regulated_msv_month": 0.08, "supervised_msv_month": 1.25,
          "controlled_green_msv_month": 4.0, "controlled_yellow_msv_h": 2.0,
          "controlled_orange_msv_h": 100.0}


@pytest.fixture
def client(tmp_path: Path) -> Any:
    app = make_app(tmp_path, zoning={"sites": {"chu-nord": {"supervised_msv_month": 1.0}}})
    conn = connect(app.state.store_path)
    # two devices of a store older than the probe-point trigger (the scheduler's to make)
    conn.execute("DROP TRIGGER points_probe_for_new_device")
    device(conn, "dev-a", "salle-1", paris(2026, 1, 1))
    device(conn, "dev-b", "salle-2", paris(2026, 1, 1))
    conn.execute("PRAGMA user_version = 0")  # as the next start brings it up to date
    migrations.migrate(conn)
    conn.close()
    with TestClient(app) as client:
        yield client


def test_the_defaults_are_those_of_the_domain() -> None:
    assert Zoning().for_site("any") == DOMAIN


def test_thresholds_out_of_order_are_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="supervised_msv_month"):
        parse_config({"zoning": {"supervised_msv_month": 5.0}})
    with pytest.raises(ConfigError, match=r"sites\.x: controlled_yellow_msv_h"):
        parse_config({"zoning": {"sites": {"x": {"controlled_yellow_msv_h": 200.0}}}})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"zoning": {"blue": 1.0}})


@pytest.mark.parametrize(("month_usv", "hour_usv", "zone", "by"), [
    (79.0, 1.0, "non_regulated", "month"),
    (80.0, 1.0, "supervised", "month"),
    (1249.0, 10.0, "supervised", "month"),
    (1250.0, 10.0, "controlled_green", "month"),
    (4000.0, 10.0, "controlled_yellow", "month"),
    (100.0, 2000.0, "controlled_orange", "hour"),
    (100.0, 100_000.0, "controlled_red", "hour"),
])
def test_a_month_is_classified_by_its_dose_and_its_largest_hour(
        month_usv: float, hour_usv: float, zone: str, by: str) -> None:
    assert pts.classify(month_usv, hour_usv, DOMAIN) == (zone, by)


def _scheduler_pass(client: TestClient) -> None:
    app = client.app
    prepare_reports(app.state.store_path, app.state.config)  # type: ignore[attr-defined]


def test_every_device_gets_its_probe_point_with_the_site_thresholds(client: TestClient) -> None:
    token = api_token(client, "viewer")
    # reading makes nothing: the scheduler makes the probe points of new devices
    assert client.get("/api/points", headers=bearer(token)).json()["points"] == []
    _scheduler_pass(client)
    body = client.get("/api/points", headers=bearer(token)).json()
    probes = [p for p in body["points"] if p["kind"] == "probe"]
    assert sorted(p["device"] for p in probes) == ["dev-a", "dev-b"]
    limits = probes[0]["thresholds"]
    assert limits["values"]["supervised_msv_month"] == 1.0  # the site's override
    assert limits["source"]["supervised_msv_month"] == "site"
    # another pass creates nothing more
    _scheduler_pass(client)
    again = client.get("/api/points", headers=bearer(token)).json()["points"]
    assert len(again) == 2
    # a device the ingest registers from now on has its probe point at once
    store = Store.open(client.app.state.store_path)  # type: ignore[attr-defined]
    row = {"device": "dev-c", "site": "chu-nord", "room": "salle-3", "journal": "j",
           "acked_upto": 0, "last_seen": "2026-01-01T00:00:00.000Z", "online": 1,
           "status_state": "online", "status_at": None, "heartbeat_s": 30, "agent": None}
    with store.conn:
        store.upsert_devices([row])
    with store.conn:
        store.upsert_devices([row])  # every registration is a REPLACE: still one point
    store.conn.close()
    now = client.get("/api/points", headers=bearer(token)).json()["points"]
    assert sorted(p["device"] for p in now if p["kind"] == "probe") == ["dev-a", "dev-b", "dev-c"]


def test_manual_points_and_point_overrides(client: TestClient) -> None:
    token = api_token(client, "pcr")
    made = client.post("/api/points", json={"device": "dev-a", "name": "Console"},
                       headers=bearer(token))
    assert made.status_code == 200, made.text
    assert made.json()["kind"] == "manual"
    dup = client.post("/api/points", json={"device": "dev-a", "name": "Console"},
                      headers=bearer(token))
    assert dup.status_code == 409
    assert dup.json()["detail"][0]["loc"] == ["body", "name"]
    unknown = client.post("/api/points", json={"device": "nope", "name": "X"},
                          headers=bearer(token))
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "device"]
    bad_name = client.post("/api/points", json={"device": "dev-a", "name": "<b>"},
                           headers=bearer(token))
    assert bad_name.status_code == 422
    point_id = made.json()["id"]
    ok = client.put(f"/api/points/{point_id}/thresholds",
                    json={"non_regulated_msv_month": 0.05}, headers=bearer(token))
    assert ok.status_code == 200
    assert ok.json()["thresholds"]["source"]["non_regulated_msv_month"] == "point"
    wrong = client.put(f"/api/points/{point_id}/thresholds",
                       json={"non_regulated_msv_month": 3.0}, headers=bearer(token))
    assert wrong.status_code == 422
    assert "must be below" in wrong.json()["detail"][0]["msg"]
    kept = client.get("/api/points", headers=bearer(token)).json()["points"]
    assert next(p for p in kept if p["id"] == point_id)["override"] == {
        "non_regulated_msv_month": 0.05}
    assert client.put("/api/points/999/thresholds", json={},
                      headers=bearer(token)).status_code == 404


def test_a_viewer_sees_the_points_page_but_cannot_add(client: TestClient) -> None:
    _scheduler_pass(client)
    login(client, "viewer")
    page = client.get("/points")
    assert page.status_code == 200 and 'data-testid="points-table"' in page.text
    # French by default: thresholds in words with their units, not config keys
    assert "surveillée (bleue) en dessous de 1 mSv par mois" in page.text
    assert "_msv_" not in page.text
    refused = client.post("/points", data={"csrf_token": csrf(client), "device": "dev-a",
                                           "name": "Door"})
    assert refused.status_code == 403
    login(client, "pcr")
    added = client.post("/points", data={"csrf_token": csrf(client), "device": "dev-a",
                                         "name": "Door"}, follow_redirects=False)
    assert added.status_code == 303
    blank = client.post("/points", data={"csrf_token": csrf(client), "device": "dev-a",
                                         "name": ""})
    assert blank.status_code == 422 and 'data-testid="error-name"' in blank.text


def test_declared_zones_and_background_through_the_api(client: TestClient) -> None:
    _scheduler_pass(client)
    token = api_token(client, "pcr")
    point = client.get("/api/points?device=dev-a", headers=bearer(token)).json()["points"][0]
    url = f"/api/points/{point['id']}/zoning"
    assert point["declared"] == {} and point["background_cpm"] is None
    ok = client.put(url, json={"declared": {"off": "non_regulated", "powered": "supervised",
                                            "emitting": "controlled_green"},
                               "background_cpm": 18.5}, headers=bearer(token))
    assert ok.status_code == 200, ok.text
    assert ok.json()["declared"] == {"off": "non_regulated", "powered": "supervised",
                                     "emitting": "controlled_green"}
    assert ok.json()["background_cpm"] == 18.5
    for body, loc in (
            ({"declared": {"always": "supervised"}}, ["body", "declared", "always"]),
            ({"declared": {"off": "<script>"}}, ["body", "declared", "off"]),
            ({"declared": {"permanent": "supervised", "off": "supervised"}},
             ["body", "declared", "permanent"]),
            ({"declared": {"off": "supervised", "emitting": "non_regulated"}},
             ["body", "declared", "emitting"]),
            ({"background_cpm": -1}, ["body", "background_cpm"]),
            ({"background_cpm": 1e9}, ["body", "background_cpm"]),
            ({"background_cpm": "lots"}, ["body", "background_cpm"]),
            ({"declared": ["supervised"]}, ["body", "declared"]),
            ({"colour": "blue"}, ["body", "colour"])):
        bad = client.put(url, json=body, headers=bearer(token))
        assert bad.status_code == 422, body
        assert bad.json()["detail"][0]["loc"] == loc, body
    nan = client.put(url, content=b'{"background_cpm": NaN}', headers={
        **bearer(token), "Content-Type": "application/json"})
    assert nan.status_code == 422 and nan.json()["detail"][0]["loc"] == ["body", "background_cpm"]
    # what was refused changed nothing; clearing is an empty body
    kept = client.get("/api/points?device=dev-a", headers=bearer(token)).json()["points"][0]
    assert kept["background_cpm"] == 18.5 and kept["declared"]["emitting"] == "controlled_green"
    cleared = client.put(url, json={}, headers=bearer(token)).json()
    assert cleared["declared"] == {} and cleared["background_cpm"] is None
    assert client.put("/api/points/999/zoning", json={}, headers=bearer(token)).status_code == 404
    viewer = api_token(client, "viewer")
    assert client.put(url, json={}, headers=bearer(viewer)).status_code == 403
    conn = connect(client.app.state.store_path)  # type: ignore[attr-defined]
    audits = conn.execute("SELECT target, detail FROM audit WHERE action = 'point.zoning'"
                          " ORDER BY id").fetchall()
    conn.close()
    assert [a[0] for a in audits] == [f"point:{point['id']}"] * 2
    assert '"background_cpm": 18.5' in audits[0][1]


def test_the_points_page_sets_declared_zones_and_says_what_is_refused(
        client: TestClient) -> None:
    _scheduler_pass(client)
    login(client, "pcr")
    page = client.get("/points")
    assert page.status_code == 200 and 'data-testid="zoning-forms"' in page.text
    point_id = int(page.text.split('data-point-id="', 1)[1].split('"', 1)[0])
    url = f"/points/{point_id}/zoning"
    form = {"permanent": "", "off": "", "powered": "", "emitting": "", "background_cpm": ""}
    assert client.post(url, data={**form, "permanent": "supervised"}).status_code == 403  # CSRF
    done = client.post(url, data={**form, "csrf_token": csrf(client), "permanent": "supervised",
                                  "background_cpm": "12,5"}, follow_redirects=False)
    assert done.status_code == 303
    shown = client.get("/points").text
    cell = shown.split(f'data-testid="point-declared-{point_id}"', 1)[1].split("</td>", 1)[0]
    assert "en permanence\u202f: Surveillée (bleue)" in cell
    assert "12.5 coups/min" in shown
    for change, field, message in (
            ({"background_cpm": "beaucoup"}, "background_cpm", "Saisissez un nombre."),
            ({"background_cpm": "1" * 40}, "background_cpm", "Saisissez un nombre."),
            ({"background_cpm": "nan"}, "background_cpm", "Saisissez un nombre"),
            ({"background_cpm": "-3"}, "background_cpm", "Un bruit de fond est un taux"),
            ({"off": "<b>rouge</b>"}, "off", "Zone inconnue."),
            ({"permanent": "supervised", "off": "supervised"}, "permanent", "pas les deux"),
            ({"off": "controlled_green", "powered": "supervised"}, "emitting",
             "ne peut pas être plus basse")):
        refused = client.post(url, data={**form, "csrf_token": csrf(client), **change})
        assert refused.status_code == 422, change
        error = refused.text.split(f'data-testid="error-zoning-{field}"', 1)
        assert len(error) == 2, change
        assert message in error[1].split("</span>", 1)[0], change
        assert "<b>rouge</b>" not in refused.text
        assert f'id="zoning-{point_id}" data-testid="zoning-{point_id}" open' in refused.text
    kept = client.get("/points").text
    assert "12.5 coups/min" in kept
    assert client.post("/points/999/zoning", data={**form, "csrf_token": csrf(client)}
                       ).status_code == 404
    login(client, "viewer")
    assert 'data-testid="zoning-forms"' not in client.get("/points").text
    assert client.post(url, data={**form, "csrf_token": csrf(client)}).status_code == 403
