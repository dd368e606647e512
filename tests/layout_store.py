"""A realistic store for the layout test (tests/test_layout.py): what a site looks like
after a season of use, with the longest names a French site gives its rooms and doors.

The other walks fill their store with extreme records (tests/test_pages_survive.py); a page
laid out over 300-character junk says little about the page a PCR reads. Here three rooms
of one site, named by the site in long French labels, play through the real ingest
(:class:`hub.ingest.core.IngestCore`, the wire's own payloads): open critical events (one
acknowledged, one closed), exposures with doors open, a data gap and a silent box; a
quarter of readings written by SQL (tests/report_data.py) and their rollups; the quarter's
reports (one signed); a manual measurement point; the verification calendar of a room
(mobile device, a verification recorded, a maintenance) through the pages' own forms; an
admin with a long display name, who walks the pages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.db import rollups
from hub.db.connection import connect, write
from hub.db.store import Store
from hub.reports import points as pts
from hub.reports import preparation, quarters
from hub.reports import quarterly as qr
from hub.timefmt import iso
from hub.web.report_document import render_both
from tests import report_data
from tests.hub_factory import SITE, alarm, alarms, batch, core, exposure, status
from tests.test_web_rooms import live_msg
from tests.web_helpers import PASSWORD, add_account, api_token, csrf, login, make_app
from wire.contract import EXPOSURES

#: The app's clock: the morning after the first quarter ends (its reports can be prepared).
NOW = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
NOW_S = NOW.timestamp()
#: When the rooms played their morning (three hours before the clock).
MORNING = NOW_S - 3 * 3600
#: (room key, the site's label for it): the longest a card gets in French.
ROOMS = (("radiologie-interventionnelle-2",
          "Salle de radiologie interventionnelle n° 2 (bloc opératoire central)"),
         ("scanner-urgences", "Scanographe des urgences adultes et pédiatriques"),
         ("salle-3", "Salle 3 : radiologie conventionnelle ostéo-articulaire"))
#: Door and lamp labels (display names of signals), as long as a site types them.
SIGNALS = {"door.corridor": "Porte du couloir des brancards (côté ascenseurs)",
           "door.control": "Porte du pupitre de commande",
           "light.powered": "Voyant « sous tension » au-dessus de la porte",
           "light.emission": "Voyant « émission » au-dessus de la porte"}
ADMIN = "admin"
ADMIN_NAME = "Dr Anne-Sophie Lefèvre-Delacroix (PCR, démo)"


def device_of(room: str) -> str:
    return f"{SITE}.{room}"


def journal_of(room: str) -> str:
    """Each box its own journal (the ingest refuses a journal another box holds)."""
    return f"{[r for r, _ in ROOMS].index(room) + 1:02x}" * 16


def _ingest(store_path: Path) -> None:
    """The morning through the ingest: events, exposures, a gap, a box gone silent."""
    store = Store.open(store_path)
    try:
        hub = core(store, now=MORNING)
        messages: list[tuple[str, bytes]] = []
        for n, (room, _) in enumerate(ROOMS):
            where: dict[str, Any] = {"device": device_of(room), "room": room,
                                     "journal": journal_of(room)}
            at = MORNING + 600 * n
            messages += [status("online", at, **where), live_msg(at + 1, **where)]
            raised = alarm(1, 1, "raised", kind="unsolicited_emission", subject=None,
                           at=iso(at + 60), since=iso(at + 60))
            door = alarm(2, 2, "raised", kind="door_open_during_emission", subject="corridor",
                         at=iso(at + 900), since=iso(at + 900))
            messages.append(alarms(raised, door, **where))
            seq = 5 if n == 1 else 3  # the second room skips seq 3 and 4: a data gap
            messages.append(batch(EXPOSURES, [
                exposure(seq, 1, "closed", start=iso(at + 300), doors_open=["corridor"],
                         alarms=["door_open_during_emission"]),
                exposure(seq + 1, 2, "closed", start=iso(at + 1800), requested=False,
                         alarms=["unsolicited_emission"])], **where))
        hub.handle_batch(messages, MORNING + 2000)
        # The first two rooms are still talking at the clock's time; the third is silent.
        late = [live_msg(NOW_S - 30, device=device_of(room), room=room,
                         inputs={"generator_powered": True, "request": True, "emission": True,
                                 "light.powered": True, "light.emission": True,
                                 "door.corridor": True, "door.control": False},
                         exposure_open=True, dose_rate_usv_h=1234.5)
                for room, _ in ROOMS[:2]]
        late += [status("online", NOW_S - 20, device=device_of(room), room=room,
                        journal=journal_of(room)) for room, _ in ROOMS[:2]]
        hub.handle_batch(late, NOW_S - 10)
        hub.tick(NOW_S)
    finally:
        store.close()


def _history(store_path: Path) -> None:
    """A quarter of readings for each room (SQL, fast), above the ingest's sequence numbers;
    the rollups the charts read; the site's labels; a manual point."""
    conn = connect(store_path)
    try:
        start = report_data.paris(2026, 1, 1)
        for n, (room, label) in enumerate(ROOMS):
            name = device_of(room)
            with write(conn):  # seen since December, on its own journal
                conn.execute("INSERT INTO devices (device, site, room, journal, acked_upto,"
                             " last_seen, online) VALUES (?, ?, ?, ?, 0, ?, 1)",
                             [name, SITE, room, journal_of(room), iso(start - 86_400)])
                conn.execute("INSERT INTO journals (device, journal, upto, started_at)"
                             " VALUES (?, ?, 0, ?)", [name, journal_of(room), iso(start - 86_400)])
            last = report_data.fill(conn, name, start, int(NOW_S) - 7200, 900, 0.1 + 0.02 * n,
                                    seq0=1_000_000, upto=False)
            report_data.fill(conn, name, int(NOW_S) - 7200, int(NOW_S), 60, 0.12,
                             seq0=last + 1, upto=False, peak=2.5)
            with write(conn):
                conn.execute("UPDATE readings SET journal = ? WHERE device = ?",
                             [journal_of(room), name])
                _label(conn, name, "device", name, label)
                for key, text in SIGNALS.items():
                    _label(conn, name, "signal", key, text)
        with write(conn):
            pts.ensure_probe_points(conn)
            pts.add_manual_point(conn, device_of(ROOMS[0][0]),
                                 "Pupitre de commande derrière la vitre plombée", ADMIN)
        while not rollups.refresh(conn, limit=rollups.CHUNK).complete:
            pass
    finally:
        conn.close()


def _label(conn: Any, device: str, kind: str, key: str, label: str) -> None:
    """A display name, where the store has them (hub.web.names)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "display_names" in tables:
        conn.execute("INSERT OR REPLACE INTO display_names (device, kind, key, label,"
                     " updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)",
                     [device, kind, key, label, iso(NOW_S - 86_400), ADMIN])


def _reports(store_path: Path) -> None:
    """The first quarter's drafts, the first of them signed."""
    conn = connect(store_path)
    try:
        ids = preparation.prepare_quarter(conn, quarters.parse_quarter("2026-Q1"), NOW)
        assert ids, "no report prepared"
        digest = qr.get_report(conn, ids[0])["content_sha256"]
        with write(conn):
            qr.sign(conn, ids[0], ADMIN_NAME, ADMIN, NOW, render_both, digest)
    finally:
        conn.close()


def _post(client: TestClient, path: str, **data: str) -> None:
    response = client.post(path, data={**data, "csrf_token": csrf(client)},
                           follow_redirects=False)
    assert response.status_code == 303, (path, response.status_code, response.text[:400])


def _event_ids(store_path: Path, kind: str) -> list[int]:
    conn = connect(store_path)
    try:
        return [int(r[0]) for r in conn.execute(
            "SELECT id FROM events WHERE kind = ? ORDER BY id", [kind])]
    finally:
        conn.close()


def _by_the_pages(app: FastAPI) -> None:
    """What a PCR did on the pages: events handled, an ESR, the calendar, a token."""
    with TestClient(app) as client:
        login(client, "admin", ADMIN)
        first, second, *_ = _event_ids(app.state.store_path, "unsolicited_emission")
        _post(client, f"/events/{first}/acknowledge",
              comment="Émission sans demande : ingénieur biomédical appelé, arceau consigné.")
        _post(client, f"/events/{first}/qualify-esr", criterion="6",
              comment="Exposition possible du personnel : critère de déclaration retenu.")
        door = _event_ids(app.state.store_path, "door_open_during_emission")[0]
        _post(client, f"/events/{door}/acknowledge", comment="Porte restée ouverte, vue.")
        _post(client, f"/events/{door}/close", comment="Ferme-porte réglé par les services"
              " techniques le jour même.", outcome="")
        assert second
        room = ROOMS[0][0]
        _post(client, "/calendar/room", site=SITE, room=room, device_kind="mobile",
              received_on="2025-11-03", first_use_on="2025-11-17", use_changed_on="")
        _post(client, "/calendar/record", room=f"{SITE}/{room}", control="periodic_workplace",
              point="1", done_on="2026-01-12", result="ok", back="room",
              performed_by="Organisme vérificateur accrédité Cofrac n° 1-2345",
              note="Mesures aux postes de travail, rapport joint.", document_ref="VRP-2026-001")
        _post(client, "/calendar/occasion", site=SITE, room=room, kind="maintenance",
              on_day="2026-03-10", note="Remplacement du tube et du collimateur.")
    api_token(app, "admin", ADMIN)


def build(tmp_path: Path) -> FastAPI:
    """The app over the seeded store, its clock at :data:`NOW`; the admin :data:`ADMIN`
    logs in with :data:`tests.web_helpers.PASSWORD`."""
    app = make_app(tmp_path)
    app.state.clock = lambda: NOW
    store_path = Path(app.state.store_path)
    add_account(app, "admin", ADMIN, PASSWORD, ADMIN_NAME)
    add_account(app, "pcr", "pcr", PASSWORD, "M. Durand")
    _history(store_path)
    _ingest(store_path)
    _reports(store_path)
    _by_the_pages(app)
    return app
