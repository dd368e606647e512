"""What the demo's PCR did over the history, through the hub's own workflow, audited.

Each action is the function the page's button calls (:mod:`hub.events.workflow`,
:mod:`hub.events.esr`, :mod:`hub.controls.actions`,
:mod:`hub.reports.preparation`), in one write transaction with its audit record,
as :func:`hub.web.api.events.act` and the calendar's form do; ``now`` is the
virtual moment the PCR acted (a working day or two after the event), the
audit row's own time is the hub's clock. The PCR reviewed and closed the
last quarter's events but one, qualified its first unsolicited emission as an
ESR, declared it to the ASNR and sent its follow-up report (the ASNR's outcome
still awaited: the ESR stays open), acknowledged the current quarter's but the
last week's; recorded the verifications of the season in the calendar; and the
hub prepared the last quarter's reports, ready to review and sign.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.config import HubConfig
from hub.controls import actions as controls
from hub.db.connection import write
from hub.events import esr
from hub.events import workflow as ev
from hub.reports import preparation
from hub.reports.quarters import Quarter
from hub.web import audit, names
from hub.web.auth import User
from hub.workdays import PARIS, add_working_days

#: Closing words per kind (what a PCR writes after looking into it).
CONCLUSIONS = {
    "door_open_during_emission": "Porte du couloir ouverte par une IDE pendant la scopie ; "
                                 "rappel de la consigne fait à l'équipe du jour.",
    "emission_light_fault": "Ampoule du voyant d'émission remplacée par le biomédical.",
    "long_exposure": "Pédale restée appuyée sous un chariot ; pédale déplacée, équipe "
                     "informée.",
    "request_stuck": "Pédale restée appuyée sous un chariot ; pédale déplacée.",
    "emission_after_release": "Émission brève après relâchement : constructeur appelé, "
                              "contrôle du générateur fait, rien d'anormal trouvé.",
    "unsolicited_emission": "Arceau isolé jusqu'à la visite du constructeur.",
    "device_offline": "Coupure de courant au bloc (travaux) ; boîtier reparti seul.",
    "data_gap": "Coupure du réseau de l'étage ; données renvoyées par le boîtier.",
}
#: Days from the ESR's declaration to its follow-up report (due two months after).
FOLLOWUP_AFTER_DAYS = 45
#: The verifications recorded in the calendar: (room, type, days before the end, who).
VERIFICATIONS = (
    ("salle-1", "protection_devices", 75, "Claire Moreau (CRP)"),
    ("salle-2", "protection_devices", 70, "Claire Moreau (CRP)"),
    ("bloc-3", "protection_devices", 68, "Claire Moreau (CRP)"),
    ("salle-1", "periodic_equipment", 110, "Claire Moreau (CRP)"),
    ("salle-2", "periodic_equipment", 105, "Claire Moreau (CRP)"),
    ("bloc-3", "periodic_equipment", 40, "Claire Moreau (CRP)"),
    ("salle-1", "instrument_check", 20, "Claire Moreau (CRP)"),
)

#: The site's own names, set by the admin on the names page (per room: the box, its doors
#: and lamps, its probe point); a key the room does not have is left alone.
PLACE_NAMES: dict[str, dict[tuple[str, str], str]] = {
    "salle-1": {("device", ""): "Salle 1 · radiologie interventionnelle",
                ("signal", "door.corridor"): "Porte du couloir patients",
                ("signal", "door.control"): "Porte du poste de commande",
                ("point", "probe"): "Sonde murale côté pupitre"},
    "salle-2": {("device", ""): "Salle 2 · radiologie conventionnelle",
                ("signal", "door.corridor"): "Porte du couloir",
                ("point", "probe"): "Sonde murale derrière le paravent"},
    "bloc-3": {("device", ""): "Bloc 3 · arceau mobile",
               ("signal", "door.corridor"): "Porte du sas de bloc",
               ("point", "probe"): "Sonde au plafond du bloc"},
}


def _when(at: str, working_days: int, hour: int, limit: datetime) -> datetime:
    """``working_days`` after ``at`` at ``hour`` (Paris), never after ``limit``."""
    detected = datetime.fromisoformat(at.replace("Z", "+00:00"))
    day = add_working_days(detected, working_days)
    moment = datetime(day.year, day.month, day.day, hour, 0, tzinfo=PARIS).astimezone(UTC)
    return min(moment, limit)


def _act(conn: sqlite3.Connection, user: str, event_id: int, action: str,
         run: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> None:
    """``run(conn, event_id, user, *args, **kwargs)`` and its audit record, one transaction
    (as :func:`hub.web.api.events.act`)."""
    with write(conn):
        result = run(conn, event_id, user, *args, **kwargs)
        audit.record(conn, user, f"event.{action}", f"event:{event_id}", result)


def review_events(conn: sqlite3.Connection, user: str, last: Quarter, now: datetime) -> int:
    """The PCR's review of the events (see the module docstring); the ESR's event id."""
    end = last.bounds()[1]
    marks = ", ".join("?" * len(CONCLUSIONS))
    events = conn.execute(
        f"SELECT id, kind, opened_at FROM events WHERE kind IN ({marks}) ORDER BY opened_at, id",
        list(CONCLUSIONS)).fetchall()
    esr_id = 0
    kept_open = False
    for event_id, kind, opened in events:
        at = datetime.fromisoformat(str(opened).replace("Z", "+00:00")).timestamp()
        seen = _when(str(opened), 0, 17, now)
        if at >= end:  # this quarter: the older ones acknowledged, the last week's open
            if at < now.timestamp() - 7 * 86_400:
                _act(conn, user, event_id, "acknowledge", ev.acknowledge,
                     "Vu, j'en parle avec l'équipe de la salle.", seen)
        elif kind == "unsolicited_emission" and not esr_id:
            esr_id = event_id
            _act(conn, user, event_id, "qualify-esr", esr.qualify_esr,
                 "Émission sans commande de l'arceau, salle vide : déclaration à l'ASNR.",
                 seen, criterion="6")
            declared = _when(str(opened), 1, 11, now)
            _act(conn, user, event_id, "declare", esr.declare,
                 declared.astimezone(PARIS).date(), "ESR-2026-0142",
                 "Déclaration faite sur le portail de téléservices de l'ASNR.", declared)
            sent = declared + timedelta(days=FOLLOWUP_AFTER_DAYS)
            if sent < now:  # the follow-up report sent; the ASNR's outcome still awaited
                _act(conn, user, event_id, "followup", esr.record_followup,
                     sent.astimezone(PARIS).date(), "CR-ESR-2026-0142",
                     "Compte rendu envoyé avec l'analyse du constructeur.", sent)
        elif kind == "emission_light_fault" and not kept_open:
            kept_open = True  # left acknowledged: the bulb is on order
            _act(conn, user, event_id, "acknowledge", ev.acknowledge, "Ampoule commandée.",
                 seen)
        else:
            _act(conn, user, event_id, "acknowledge", ev.acknowledge,
                 "Vu, je regarde avec l'équipe.", seen)
            _act(conn, user, event_id, "close", ev.close, CONCLUSIONS[kind],
                 _when(str(opened), 2, 16, now))
    return esr_id


def record_verifications(conn: sqlite3.Connection, config: HubConfig, user: str,
                         site: str, now: datetime) -> int:
    """The season's verifications in the calendar (as the calendar's form records them)."""
    done = 0
    for room, control, days, who in VERIFICATIONS:
        day = (now - timedelta(days=days)).astimezone(PARIS).date()
        with write(conn):
            result = controls.record_done(
                conn, config.controls, user, site, room, control, day, "ok", who,
                "Vérification faite selon le programme.", f"RV-{day:%Y%m%d}-{room}", now)
            audit.record(conn, user, "control.record", f"control:{site}/{room}/{control}",
                         result)
        done += 1
    return done


def prepare_reports(conn: sqlite3.Connection, config: HubConfig, user: str, last: Quarter,
                    now: datetime) -> list[int]:
    """The last quarter's drafts, as "Prepare now" makes them (ready to review and sign)."""
    ids = preparation.prepare_quarter(conn, last, now, config.zoning,
                                      config.reports.high_coverage,
                                      scatter=config.reports.xray_scatter_calibrations)
    with write(conn):
        audit.record(conn, user, "report.prepare_quarter", f"quarter:{last.code}",
                     {"quarter": last.code, "reports": ids})
    return ids


def name_places(conn: sqlite3.Connection, admin_username: str, site: str) -> int:
    """The admin's names of the rooms' boxes, doors and points (:data:`PLACE_NAMES`), as
    the names page sets them (audited ``names.set``); how many were set."""
    row = conn.execute("SELECT id, username, role, display_name FROM users WHERE username = ?",
                       [admin_username]).fetchone()
    admin = User(int(row[0]), str(row[1]), row[2], str(row[3] or ""))
    listed = names.targets(conn)
    done = 0
    for device, room in conn.execute("SELECT device, room FROM devices WHERE site = ?"
                                     " ORDER BY device", [site]).fetchall():
        for (kind, key), label in PLACE_NAMES.get(str(room), {}).items():
            target = (str(device), kind, key or str(device))
            if target in listed:
                names.set_label(conn, *target, label, admin)
                done += 1
    return done
