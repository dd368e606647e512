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
