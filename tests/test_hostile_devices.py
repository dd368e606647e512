"""The hostile-device suite (issue 12): one room attacks another through the real broker.

Two provisioned rooms, A = chu.ir1 and B = chu.ir2, and a third account the
broker knows but the hub's registry does not (chu.ir3), all behind a real
Mosquitto with the generated configuration and ACL; the hub is ``voyant-hub
run``; B is a real agent (``voyant-sim room``) working two hours (the test
library's hour of work, twice: 720 readings, 36 exposures, 2 alarms). While
B works, A, with its real credentials, tries to take the hub's and B's
client ids, writes 400 forged records into B's journal from its own topics,
rewrites B's device row, names 200 devices nobody provisioned, replays B's
batches, jumps its sequence numbers, and sends its own records at and past
every bound of the contract (tests/hostile_payloads.py). Then: B's journal
and the hub agree record for record, nothing forged is stored anywhere, no
device was created, the issue's URLs answer 422, the quarter's report lists
the records A stamped with an implausible clock as excluded, and every page
and API route answers every role with this store, never a 500. ``-s`` prints
the suite's figures.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.timefmt import iso
from sim.broker import MosquittoMissing
from tests import hostile_payloads as hp
from tests.hostile_attack import ISSUE_URLS, Outcome, run, summary
from tests.hostile_payloads import A, B
from tests.mqtt_fixtures import DEVICES, HUB
from tests.test_pages_survive import _check, _get_routes, _variants, print_first_only
from tests.web_helpers import ROLES, clients_by_role, make_app
from tests.wire_rig import closing_line, hub_journal_differences, last_seq, rows
from wire.contract import WINDOW


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    try:
        result = run(tmp_path_factory.mktemp("hostile"))
    except MosquittoMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield result
    print("\n" + summary(result))


# -- B's evidence, whole ------------------------------------------------------------------


def test_b_journal_and_the_hub_agree_record_for_record(outcome: Outcome) -> None:
    rig, journal = outcome.rig, outcome.rig.journal(B)
    counts = [rows(journal, f"SELECT count(*) FROM {t}")[0][0]
              for t in ("readings", "exposures", "alarms")]
    assert counts == [720, 36, 2], "the scenario no longer makes the issue's numbers"
    last, acknowledged = closing_line(outcome.logs["room"])
    assert last == acknowledged == last_seq(journal)
    seqs = [r[0] for r in rows(rig.hub_db, "SELECT seq FROM received WHERE device = ? AND"
                               " journal = ? ORDER BY seq", [B.username, outcome.b_journal])]
    assert seqs == list(range(1, last + 1))
    assert hub_journal_differences(rig.hub_db, B.username, journal) == []
    at_hub = [rows(rig.hub_db, f"SELECT count(*) FROM {t} WHERE device = ?", [B.username])[0][0]
              for t in ("readings", "exposures", "alarms")]
    assert at_hub == [720, 36, 2]
    assert rows(rig.hub_db, "SELECT count(*) FROM quarantine WHERE device = ?",
                [B.username]) == [(0,)]
    outcome.figures["compared"] += sum(counts)
    outcome.figures["b_last"] = last


def test_b_device_row_is_unchanged(outcome: Outcome) -> None:
    after = rows(outcome.rig.hub_db, "SELECT site, room, journal, agent FROM devices WHERE"
                 " device = ?", [B.username])
    assert after == [outcome.b_row_before]
    assert after[0][:3] == (B.site, B.room, outcome.b_journal)
    assert rows(outcome.rig.hub_db, "SELECT device, journal FROM journals ORDER BY device") == [
        (A.username, hp.A_JOURNAL), (B.username, outcome.b_journal)]


def test_nothing_forged_is_stored(outcome: Outcome) -> None:
    db = outcome.rig.hub_db
    mark = f"%{hp.MARK}%"
    assert rows(db, "SELECT count(*) FROM readings WHERE calibration = ? OR counts = ?",
                [hp.MARK, hp.FORGED_COUNTS]) == [(0,)]
    assert rows(db, "SELECT count(*) FROM exposures WHERE calibration = ?", [hp.MARK]) == [(0,)]
    assert rows(db, "SELECT count(*) FROM alarms WHERE subject = ?", [hp.MARK]) == [(0,)]
    for table, column in (("devices", "agent"), ("live", "payload"), ("events", "detail"),
                          ("signal_changes", "signal")):
        assert rows(db, f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", [mark]) == [
            (0,)], table
    # Kept as evidence under the sender, never counted for any acknowledgement.
    kept = rows(db, "SELECT count(*), sum(counted) FROM quarantine WHERE device = ? AND"
                " journal = ?", [A.username, outcome.b_journal])
    assert kept == [(hp.FORGED_RECORDS, 0)]
    reasons = Counter(r[0] for r in rows(db, "SELECT reason FROM quarantine WHERE device = ?"
                                         " AND journal = ?", [A.username, outcome.b_journal]))
    assert reasons == {
        f"payload claims device '{B.username}'; the topic belongs to '{A.username}'": 300,
        f"journal {outcome.b_journal} belongs to device '{B.username}'": 100}, reasons
    ghosts = rows(db, "SELECT count(*) FROM quarantine WHERE device = ? AND reason LIKE"
                  " 'payload claims device ''ghost-%'", [A.username])
    assert ghosts == [(hp.GHOSTS // 2,)]
    refusals = rows(db, "SELECT device, count(*) FROM events WHERE kind ="
                    " 'record_quarantined' GROUP BY device")
    assert [r[0] for r in refusals] == [A.username], "a refusal is the sender's event"


def test_no_device_is_created(outcome: Outcome) -> None:
    db = outcome.rig.hub_db
    provisioned = sorted(d.username for d in DEVICES)
    for table in ("devices", "live", "events", "readings", "exposures", "alarms",
                  "received", "quarantine", "journals", "signal_changes"):
        found = sorted(r[0] for r in rows(db, f"SELECT DISTINCT device FROM {table}"))
        assert set(found) <= set(provisioned), (table, found[:5])
    assert sorted(r[0] for r in rows(db, "SELECT device FROM devices")) == provisioned
    assert sorted(r[0] for r in rows(db, "SELECT DISTINCT device FROM points")) == provisioned


def test_unknown_topics_create_nothing(outcome: Outcome) -> None:
    """C's own topics reach the hub and are refused; topics the ACL denies never arrive."""
    db = outcome.rig.hub_db
    refused = rows(db, "SELECT topic, reason FROM rejected WHERE topic LIKE 'voyant/v1/chu/ir3/%'")
    assert len(refused) == 3 and all("no device is provisioned for chu/ir3" in r[1]
                                     for r in refused), refused
    denied = [t for t, _ in hp.acl_dropped(0.0).messages]
    assert rows(db, f"SELECT topic FROM rejected WHERE topic IN ({','.join('?' * len(denied))})",
                denied) == []


def test_no_client_id_takeover_pushes_the_hub_or_b_off(outcome: Outcome) -> None:
    """Every takeover is the broker's "already connected" line: it names A (the witness
    pushed off by A's own stolen ids), never the hub or B, which each connected once."""
    taken = Counter(re.findall(r"Client (\S+) already connected, closing old connection",
                               outcome.logs["broker"]))
    assert taken[A.username] >= 1, "no takeover seen: the log no longer says it this way"
    assert set(taken) == {A.username}, taken
    connected = Counter(re.findall(r"New client connected from \S+ as (\S+) ",
                                   outcome.logs["broker"]))
    assert (connected[HUB.username], connected[B.username]) == (1, 1), connected
    assert connected[A.username] >= outcome.figures["takeovers"]
    assert outcome.logs["hub"].count("event=mqtt_connected") == 1
    assert "event=mqtt_disconnected" not in outcome.logs["hub"]
    room = outcome.logs["room"].splitlines()
    assert len([line for line in room if "event=mqtt_connected" in line]) == 1
    assert [line for line in room if "event=mqtt_disconnected" in line] == [
        'level=info event=mqtt_disconnected reason="Normal disconnection"']  # its own stop


# -- what A may still say of its own room -------------------------------------------------


def test_a_own_records_are_stored_flagged_or_quarantined(outcome: Outcome) -> None:
    db, ext = outcome.rig.hub_db, outcome.extremes
    expected = sorted([*ext.stored["readings"], *ext.stored["exposures"],
                       *ext.stored["alarms"], *ext.quarantined])
    received = rows(db, "SELECT seq, kind, stored_at FROM received WHERE device = ? AND"
                    " journal = ? ORDER BY seq", [A.username, hp.A_JOURNAL])
    assert [r[0] for r in received] == [*expected, outcome.jump_at, outcome.jump_at + 1]
    assert [r[0] for r in received if r[1] == "quarantined"] == ext.quarantined
    kept = rows(db, "SELECT seq, counted FROM quarantine WHERE device = ? AND journal = ?"
                " ORDER BY seq", [A.username, hp.A_JOURNAL])
    assert kept == [(s, 1) for s in ext.quarantined]
    stored_at = {r[0]: str(r[2]) for r in received}
    readings = rows(db, "SELECT seq, start, \"end\", counts, clock_implausible FROM readings"
                    " WHERE device = ? AND journal = ? ORDER BY seq", [A.username, hp.A_JOURNAL])
    assert [r[0] for r in readings] == [*ext.stored["readings"], outcome.jump_at,
                                        outcome.jump_at + 1]
    for seq, start, end, counts, flagged in readings:
        sent = ext.items.get(seq)
        if sent is not None:
            assert (start, end, counts) == (sent["start"], sent["end"], sent["counts"])
        at = datetime.fromisoformat(stored_at[seq].replace("Z", "+00:00")).timestamp()
        window = (iso(max(0.0, at - 366 * 86_400.0)), iso(at + 300.0))
        assert flagged == int(start < window[0] or end > window[1]), (seq, start, end)
    assert [r[4] for r in readings[:3]] == [0, 1, 1], "now, year 0001, year 9999"
    outcome.figures["compared"] += len(readings)
    flags = dict(rows(db, "SELECT start, clock_implausible FROM exposures WHERE run = 4242 AND"
                      " device = ?", [A.username]))
    assert flags == {"9999-12-31T23:59:50Z": 1, "0001-01-01T00:00:00Z": 1}
    assert_dated_by_receipt(db, [f"{hp.A_JOURNAL}:4242:1", f"{hp.A_JOURNAL}:4242:2"])


def assert_dated_by_receipt(db: Path, refs: list[str]) -> None:
    """The events of alarms stamped by an implausible clock: opened at their receipt (the
    ESR deadline and the inbox order), flagged."""
    events = rows(db, f"SELECT ref, opened_at, detail FROM events WHERE device = ? AND ref IN"
                  f" ({','.join('?' * len(refs))}) ORDER BY ref", [A.username, *refs])
    assert [e[0] for e in events] == refs
    for ref, opened_at, detail in events:
        assert opened_at[:4] not in ("0001", "9999"), (ref, opened_at)
        assert json.loads(detail).get("clock_implausible") is True, ref


def test_a_held_alarm_stamped_by_an_implausible_clock_is_dated_by_its_receipt(
    outcome: Outcome
) -> None:
    assert_dated_by_receipt(outcome.rig.hub_db, [f"{hp.A_JOURNAL}:4242:99"])


def test_sequence_jumps_are_refused_until_an_admin_accepts_one(outcome: Outcome) -> None:
    db = outcome.rig.hub_db
    assert rows(db, "SELECT count(*) FROM received WHERE seq > ?", [outcome.jump_at + 1]) == [
        (0,)]
    assert rows(db, "SELECT value FROM counters WHERE name = 'records_beyond_window'") == [(3,)]
    gaps = [json.loads(r[0]) for r in rows(db, "SELECT detail FROM events WHERE kind ="
                                           " 'data_gap'")]
    assert len(gaps) == 1, gaps
    assert (gaps[0]["missing"], gaps[0]["first"], gaps[0]["last"], gaps[0]["lost"]) == (
        WINDOW, outcome.jump_at - WINDOW, outcome.jump_at - 1, True)
    assert "suite" in json.dumps(gaps[0])


# -- the pages ----------------------------------------------------------------------------


def test_the_issue_urls_answer_422_or_404_on_the_running_hub(outcome: Outcome) -> None:
    assert outcome.urls["/api/events"] == 200, "the token does not open the API"
    assert {u: outcome.urls[u] for u in ISSUE_URLS if outcome.urls[u] not in (404, 422)} == {}


@pytest.fixture(scope="module")
def web(outcome: Outcome) -> Iterator[tuple[FastAPI, dict[str, TestClient]]]:
    """The hub's app on the attacked store: every role logged in, the token the CLI made."""
    app = make_app(outcome.rig.directory)
    with clients_by_role(app, outcome.token) as clients:
        yield app, clients


def test_the_report_lists_the_flagged_records_as_excluded(
    outcome: Outcome, web: tuple[FastAPI, dict[str, TestClient]]
) -> None:
    db = outcome.rig.hub_db
    ((report_id, content),) = rows(db, "SELECT id, content FROM reports WHERE device = ?",
                                   [A.username])
    flagged = [rows(db, f"SELECT count(*) FROM {t} WHERE device = ? AND clock_implausible = 1",
                    [A.username])[0][0] for t in ("readings", "exposures")]
    excluded = json.loads(content)["excluded"]
    assert [excluded["readings"], excluded["exposures"]] == flagged
    assert flagged[0] >= 2 and flagged[1] >= 2
    page = web[1]["pcr"].get(f"/reports/{report_id}")
    assert page.status_code == 200
    assert (f'data-testid="report-excluded" data-readings="{flagged[0]}"'
            f' data-exposures="{flagged[1]}"') in page.text
    for start in ("0001-01-01 00:00:00 UTC", "9999-12-31 23:59:50 UTC"):  # as stamped
        assert f"<td>{start}</td>" in page.text, start


def test_every_page_answers_every_role(
    outcome: Outcome, web: tuple[FastAPI, dict[str, TestClient]]
) -> None:
    """Every GET route of the app's table, its path parameters filled from this store
    (and absent and malformed ones), as anonymous, viewer, pcr, admin and the API token."""
    app, clients = web
    routes = _get_routes(app)
    assert len(routes) >= 30
    outcome.figures["routes"] = len(routes)
    failures: list[str] = []
    for route in routes:
        for number, (path, expect) in enumerate(_variants(app, route)):
            with pytest.MonkeyPatch.context() as patch:
                print_first_only(patch, route, number)  # a PDF route: its first one printed
                for role in ROLES:
                    response = clients[role].get(path, follow_redirects=False)
                    outcome.figures["walked"] += 1
                    outcome.figures["500s"] += response.status_code >= 500
                    _check(role, path, response.status_code, expect, failures)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])
    assert outcome.figures["500s"] == 0


def test_the_hub_logged_no_error_but_the_accepted_jump(outcome: Outcome) -> None:
    errors = [line for line in outcome.logs["hub"].splitlines() if "level=error" in line]
    assert len(errors) == 1 and "event=records_lost" in errors[0], errors[:5]
    assert f"lost={WINDOW}" in errors[0]
