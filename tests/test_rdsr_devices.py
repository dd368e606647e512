"""Mapping the imaging devices to rooms (#17 item 3): one row per (observer name, serial,
sending peer's label) seen in the RDSRs stored, an audited admin page that maps each to a
box, its clock offset estimated from the room's emissions, and migration step 6."""

from __future__ import annotations

import html
import json
import sqlite3
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db import migrations
from hub.db.connection import connect
from hub.db.migrate_rdsr_devices import devices_to_6, devices_to_7
from hub.db.store import Store
from hub.rdsr import devices
from hub.rdsr.store import store_bytes
from hub.timefmt import iso, parse
from tests import rdsr_builder as b
from tests.hub_factory import DEVICE, JOURNAL, ROOM, SITE
from tests.test_web_rooms import fill
from tests.web_helpers import csrf, login, make_app

FR = {"Accept-Language": "fr"}
NNBSP = "\u202f"
#: The events of the Artis (UTC, the file says +0000) and its clock's lead on Voyant's.
STARTS = ("20260115093000", "20260115101500", "20260115110000")
AHEAD_S = 130.0


def _bytes(ds: pydicom.Dataset) -> bytes:
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _report(starts: tuple[str, ...], serial: str = "SN-42") -> bytes:
    ds = b.report(*(b.event(s) for s in starts), tz_offset="+0000")
    ds.ContentSequence[4].TextValue = serial  # the context's Device Observer Serial Number
    return _bytes(ds)


def _stock(path: Path) -> None:
    """Two rooms; an Artis (peer label "Artis, salle 3") whose events each follow one of
    salle-3's emissions by 2 min 10 s; a C-arm with the useless serial "1", imported."""
    store = Store.open(path)
    try:
        fill(store)
    finally:
        store.close()
    conn = connect(path)
    try:
        assert store_bytes(conn, _report(STARTS), "ARTIS@10.0.0.5",
                           peer_device="Artis, salle 3").status == "stored"
        assert store_bytes(conn, _report(("20260116080000",), serial="1"),
                           "import:carm.dcm").status == "stored"
        starts = [str(r[0]) for r in conn.execute(
            "SELECT start_utc FROM rdsr_irradiation_events ORDER BY start_utc")]
        assert starts[0] == "2026-01-15T09:30:00.000Z"
        for number, start in enumerate(starts[:3], 1):
            conn.execute("INSERT INTO exposures (device, site, room, journal, run, number,"
                         " state, start, \"end\", clock_implausible) VALUES"
                         " (?, ?, ?, ?, 9, ?, 'closed', ?, ?, 0)",
                         [DEVICE, SITE, ROOM, JOURNAL, number, iso(parse(start) - AHEAD_S),
                          iso(parse(start) - AHEAD_S + 20)])
        conn.execute("INSERT INTO display_names (device, kind, key, label, updated_at,"
                     " updated_by) VALUES (?, 'device', ?, 'Salle de radiologie 3', ?, 'x')",
                     [DEVICE, DEVICE, starts[0]])
        # an emission of another clock's time, implausible: never paired
        conn.execute("INSERT INTO exposures (device, site, room, journal, run, number, state,"
                     " start, clock_implausible) VALUES (?, ?, ?, ?, 9, 9, 'closed', ?, 1)",
                     [DEVICE, SITE, ROOM, JOURNAL, "2026-01-15T09:30:00.000Z"])
    finally:
        conn.close()


def _app(tmp_path: Path, **config: Any) -> FastAPI:
    app = make_app(tmp_path, **config)
    _stock(tmp_path / "hub.db")
    return app


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return _app(tmp_path)


@pytest.fixture
def admin(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        login(client, "admin")
        yield client


def _rows(app: FastAPI) -> list[devices.ImagingDevice]:
    conn = connect(app.state.store_path)
    try:
        return devices.listing(conn)
    finally:
        conn.close()


def _artis(app: FastAPI) -> devices.ImagingDevice:
    return next(d for d in _rows(app) if d.peer_device == "Artis, salle 3")


def _map(client: TestClient, imaging_id: object, box: str, token: str | None = None) -> Any:
    return client.post("/admin/imaging", headers=FR, follow_redirects=False, data={
        "imaging": str(imaging_id), "device": box,
        "csrf_token": csrf(client) if token is None else token})


def _page(client: TestClient) -> str:
    """The page in French, its entities read (an apostrophe is ``&#39;`` in the HTML)."""
    response = client.get("/admin/imaging", headers=FR)
    assert response.status_code == 200
    return html.unescape(response.text)


def _audit(app: FastAPI) -> list[tuple[Any, ...]]:
    conn = connect(app.state.store_path)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT username, action, target, detail FROM audit WHERE action = 'imaging.map'"
            " ORDER BY id")]
    finally:
        conn.close()


def test_each_device_is_one_row_by_its_triple_null_safe_and_idempotent(app: FastAPI) -> None:
    conn = connect(app.state.store_path)
    try:
        rows = devices.listing(conn)
        assert [(d.observer_name, d.serial, d.peer_device, d.device) for d in rows] == [
            ("ROOM-1", "1", "", None), ("ROOM-1", "SN-42", "Artis, salle 3", None)]
        carm, artis = rows
        assert (artis.manufacturer, artis.model, artis.studies, artis.files) == (
            "Acme", "Arc 9", 1, 1)
        assert artis.peers == ["ARTIS@10.0.0.5"] and carm.peers == ["import:carm.dcm"]
        assert devices.sync(conn) == 0
        # Another study of the Artis from another address: the same device, two peers.
        store_bytes(conn, _report(("20260117080000",)), "ARTIS@10.0.0.6",
                    peer_device="Artis, salle 3")
        assert devices.sync(conn) == 0
        again = devices.listing(conn)
        assert len(again) == 2 and again[1].peers == ["ARTIS@10.0.0.5", "ARTIS@10.0.0.6"]
        assert (again[1].studies, again[1].files) == (2, 2)
        assert again[1].first_file is not None and again[1].last_file is not None
        # The same observer and serial sent by another peer's label: another device.
        store_bytes(conn, _report(("20260118080000",)), "OTHER@10.0.0.7", peer_device="Bloc")
        assert devices.sync(conn) == 0 and len(devices.listing(conn)) == 3  # its file's row
    finally:
        conn.close()


def test_an_admin_maps_a_device_and_sees_its_clock_offset(app: FastAPI,
                                                           admin: TestClient) -> None:
    page = _page(admin)
    assert "Systèmes d'imagerie" in page
    assert "Associez-le à une salle pour estimer son décalage d'horloge." in page
    assert "Artis, salle 3" in page and "ARTIS@10.0.0.5" in page
    assert f'<option value="{DEVICE}">Salle de radiologie 3 (chu-nord / salle-3)</option>' in page
    assert '<option value="chu-nord.salle-4">chu-nord / salle-4</option>' in page  # unnamed
    artis = _artis(app)
    assert _map(admin, artis.id, DEVICE).status_code == 303
    saved = _page(admin)
    assert f"Décalage d'horloge estimé{NNBSP}: +2\u00a0min 10\u00a0s (3 paires)" in saved
    assert 'data-testid="imaging-drift"' in saved and "dérive au-delà de la tolérance" in saved
    assert f'<option value="{DEVICE}" selected>Salle de radiologie 3' in saved
    mapped = _artis(app)
    assert (mapped.device, mapped.updated_by) == (DEVICE, "admin")
    [(user, action, target, detail)] = _audit(app)
    assert (user, action, target) == ("admin", "imaging.map", f"imaging:{artis.id}")
    assert json.loads(detail) == {"old": "", "new": DEVICE,
                                  "name": "ROOM-1 · SN-42 · Artis, salle 3"}
    # The same choice again changes nothing, and writes no audit row.
    assert _map(admin, artis.id, DEVICE).status_code == 303 and len(_audit(app)) == 1
    # Unmapped: no estimate.
    assert _map(admin, artis.id, "").status_code == 303
    assert _artis(app).device is None
    assert json.loads(_audit(app)[-1][3])["old"] == DEVICE
    assert "paires" not in _page(admin)


def test_within_the_tolerance_no_drift_and_a_room_without_emissions_no_estimate(
        tmp_path: Path) -> None:
    app = _app(tmp_path, dicom={"clock_tolerance_s": 200})
    with TestClient(app) as client:
        login(client, "admin")
        assert _map(client, _artis(app).id, DEVICE).status_code == 303
        page = _page(client)
        assert "(3 paires)" in page and "dérive au-delà" not in page
        carm = next(d for d in _rows(app) if d.serial == "1")
        assert _map(client, carm.id, "chu-nord.salle-4").status_code == 303
        page = _page(client)
        assert "Pas encore d'estimation" in page


@pytest.mark.parametrize(("imaging_id", "box", "said"), [
    ("abc", DEVICE, f"Système d'imagerie{NNBSP}: Pas un numéro"),
    ("\u0663", DEVICE, f"Système d'imagerie{NNBSP}: Pas un numéro"),  # an Arabic-Indic 3
    ("-1", DEVICE, f"Système d'imagerie{NNBSP}: Pas un numéro"),
    ("", DEVICE, f"Système d'imagerie{NNBSP}: Pas un numéro"),
    ("99999", DEVICE, f"Système d'imagerie{NNBSP}: Aucun système d'imagerie numéro 99999"),
    ("ARTIS", "nowhere", f"Système d'imagerie{NNBSP}: Pas un numéro"),
    ("{artis}", "chu-nord.salle-9", f"Salle{NNBSP}: Aucun boîtier du relais"),
    ("{artis}", "chu-nord.salle-3\x00", f"Salle{NNBSP}: Aucun boîtier du relais"),
])
def test_a_forged_form_is_refused_with_a_400_naming_the_field(
        app: FastAPI, admin: TestClient, imaging_id: str, box: str, said: str) -> None:
    artis = _artis(app)
    response = _map(admin, imaging_id.format(artis=artis.id), box)
    assert response.status_code == 400 and said in html.unescape(response.text)
    assert _artis(app).device is None and _audit(app) == []


def test_only_an_admin_with_the_forms_token_may_map(app: FastAPI) -> None:
    artis = _artis(app)
    with TestClient(app) as client:
        login(client, "admin")
        assert _map(client, artis.id, DEVICE, token="forged").status_code == 403
        for role in ("viewer", "pcr"):
            login(client, role)
            assert client.get("/admin/imaging").status_code == 403
            assert _map(client, artis.id, DEVICE).status_code == 403
    assert _artis(app).device is None and _audit(app) == []


def test_migration_step_6_makes_the_table(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    migrations.migrate(conn)
    conn.execute("BEGIN")
    conn.execute("DROP TRIGGER rdsr_devices_for_new_file")
    conn.execute("DROP TABLE rdsr_devices")
    conn.execute("DROP INDEX rdsr_files_by_device")
    conn.execute("PRAGMA user_version = 5")  # a store of the hub before the mapping
    conn.execute("COMMIT")
    conn.row_factory = sqlite3.Row
    assert store_bytes(conn, _report(("20260117080000",)), "ARTIS@10.0.0.5",
                       peer_device="Artis").status == "stored"  # a file kept before step 6
    assert migrations.migrate(conn) == [n for n, _w, _s in migrations.MIGRATIONS if n >= 6]
    assert [d.peer_device for d in devices.listing(conn)] == ["Artis"]  # filled by step 7
    devices_to_6(conn)  # idempotent
    devices_to_7(conn)
    assert devices.sync(conn) == 0 and len(devices.listing(conn)) == 1


def test_a_store_made_with_step_6_gains_the_trigger_and_its_devices(tmp_path: Path) -> None:
    """A store of the hub that listed the devices from its page (step 6, no trigger)."""
    conn = sqlite3.connect(tmp_path / "six.db", isolation_level=None)
    migrations.migrate(conn)
    conn.execute("DROP TRIGGER rdsr_devices_for_new_file")
    conn.execute("PRAGMA user_version = 6")
    conn.row_factory = sqlite3.Row
    store_bytes(conn, _report(("20260117080000",)), "ARTIS@10.0.0.5", peer_device="Artis")
    assert devices.listing(conn) == []  # the page reads, never writes
    assert migrations.migrate(conn)[0] == 7  # then the later steps
    assert [d.peer_device for d in devices.listing(conn)] == ["Artis"]
    store_bytes(conn, _report(("20260118080000",)), "OTHER@10.0.0.7", peer_device="Bloc")
    assert [d.peer_device for d in devices.listing(conn)] == ["Artis", "Bloc"]  # the trigger
    conn.close()
    conn.close()


def test_a_report_dated_in_year_1_or_9999_leaves_the_page_standing(
        app: FastAPI, admin: TestClient) -> None:
    """A reset clock or a hostile file: its events pair with nothing, the page answers."""
    conn = connect(app.state.store_path)
    conn.row_factory = sqlite3.Row
    try:
        for start in ("00010101000500", "99991231235500"):
            assert store_bytes(conn, _report((start,)), "ARTIS@10.0.0.5",
                               peer_device="Artis, salle 3").status == "stored"
    finally:
        conn.close()
    assert _map(admin, _artis(app).id, DEVICE).status_code == 303
    assert "Décalage d'horloge estimé" in _page(admin)  # from the plausible events alone
