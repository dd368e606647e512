"""The hostile-device suite's driver: the rig, the attack in order, and what it left.

The hub (``voyant-hub run``), room B (``voyant-sim room``) and Mosquitto are real
processes; A and C are paho clients with their real credentials. Every wait
polls with a deadline (an acknowledgement, a counter, a log line). The
payloads are built in tests/hostile_payloads.py; what must hold afterwards is
asserted in tests/test_hostile_devices.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt

from hub.broker.files import DeviceAccount
from hub.db.connection import connect
from hub.reports import preparation, quarters
from sim.broker import Mosquitto
from tests import hostile_payloads as hp
from tests.hostile_payloads import A, B, C, Msg
from tests.mqtt_fixtures import DEVICES, HUB, MqttProbe
from tests.web_helpers import PASSWORD, ROLES
from tests.wire_rig import Proc, Rig, hub_upto, journal_id, last_seq, rows, wait_until
from wire.contract import ACK, LIVE, MAX_SEQ, WINDOW, topic

#: Two hours of work in about 18 real seconds: the attack runs while B works.
SPEED = 400.0
RUNS = 2
DRAIN_S = 120.0
#: The issue's URLs: out-of-range integers and dates must answer 422 (or 404), never 500.
ISSUE_URLS = ("/api/events/9223372036854775808", "/api/reports/18446744073709551616",
              f"/api/events?offset={2**64}", "/api/rooms/chu.ir1/readings?end=0001-01-01T00:00:00Z")


@dataclass
class Outcome:
    """What the attack left: the rig (store, journals, logs) and what was measured."""

    rig: Rig
    b_journal: str
    b_row_before: tuple[Any, ...]
    extremes: hp.Extremes
    jump_at: int
    token: str
    urls: dict[str, int]
    logs: dict[str, str]
    figures: Counter[str] = field(default_factory=Counter)


def provision_hub(rig: Rig) -> None:
    """The hub's registry lists A and B only: C's account exists at the broker alone."""
    rig.hub_config()
    (rig.directory / "devices.toml").write_text("".join(
        f'[devices."{d.username}"]\nsite = "{d.site}"\nroom = "{d.room}"\n\n'
        for d in DEVICES), encoding="utf-8")


def probe(broker: Mosquitto, account: DeviceAccount, **options: Any) -> MqttProbe:
    client = MqttProbe(broker.host, broker.port, account.username, account.password, **options)
    assert not client.connect().is_failure, account.username
    return client


def send(client: MqttProbe, messages: list[Msg], figures: Counter[str]) -> None:
    for topic_text, payload in messages:
        assert not client.publish_wait(topic_text, payload).is_failure, topic_text
        figures["payloads"] += 1
        figures["records"] += records_in(payload)


def records_in(payload: bytes) -> int:
    try:
        body = json.loads(payload)
    except ValueError:
        return 0
    return len(body.get("items", [])) if isinstance(body, dict) else 0


def steal_client_ids(broker: Mosquitto, figures: Counter[str]) -> None:
    """A connects with the hub's configured and broker-side client ids and with B's, in
    MQTT 5 and 3.1.1. A witness connection of A's own is pushed off by the first one: the
    broker's takeover message is there to be counted, and names A, never the hub or B."""
    witness = MqttProbe(broker.host, broker.port, A.username, A.password, client_id="witness")
    witness.client.reconnect_delay_set(60, 60)  # pushed off once, it stays off
    assert not witness.connect().is_failure
    for stolen in ("voyant-hub", HUB.username, B.username):
        for protocol in (mqtt.MQTTv5, mqtt.MQTTv311) * 2:
            thief = probe(broker, A, client_id=stolen, protocol=protocol)
            send(thief, [(topic(A.site, A.room, LIVE), b"{}")], figures)
            thief.close()
            figures["takeovers"] += 1
    witness.wait_for(lambda: bool(witness.disconnects), "the witness pushed off")
    witness.close()


def denied(broker: Mosquitto, messages: list[Msg], figures: Counter[str]) -> None:
    """Publishes the ACL refuses, each on a connection of A's own: Mosquitto drops the
    message and closes that connection (MQTT 3.1.1 as 5), so each one is seen refused."""
    for topic_text, payload in messages:
        refused_by_the_broker(broker, topic_text, payload)
        figures["payloads"] += 1
        figures["records"] += records_in(payload)


def refused_by_the_broker(broker: Mosquitto, topic_text: str, payload: bytes) -> None:
    thief = MqttProbe(broker.host, broker.port, A.username, A.password, protocol=mqtt.MQTTv311)
    thief.client.reconnect_delay_set(60, 60)  # never sent twice
    assert not thief.connect().is_failure
    thief.publish(topic_text, payload)
    thief.wait_for(lambda: bool(thief.disconnects), f"the broker refusing {topic_text}")
    thief.close()


def acked(client: MqttProbe) -> int:
    return max((json.loads(p)["upto"] for p in client.received(topic(A.site, A.room, ACK))
                if json.loads(p)["journal"] == hp.A_JOURNAL), default=0)


def barrier(client: MqttProbe, seq: int, figures: Counter[str]) -> None:
    """A's next record, acknowledged: the hub has handled everything A sent before it."""
    send(client, [hp.own(seq)], figures)
    client.wait_for(lambda: acked(client) >= seq, f"A's ack of {seq}")


def counter(rig: Rig, name: str) -> int:
    found = rows(rig.hub_db, "SELECT value FROM counters WHERE name = ?", [name])
    return int(found[0][0]) if found else 0


def cli(rig: Rig, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "hub.cli", *args, "--config",
                           str(rig.directory / "hub.toml")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def attack(rig: Rig, figures: Counter[str]) -> Outcome:
    hub = rig.hub()
    procs: list[Proc] = [hub]
    clients: list[MqttProbe] = []
    try:
        hub.wait_log("mqtt_connected")
        room = rig.room(B, "hour_of_work", speed=SPEED, repeat=RUNS, linger=DRAIN_S)
        procs.append(room)
        wait_until(lambda: rig.journal(B).exists() and hub_upto(
            rig.hub_db, B.username, journal_id(rig.journal(B))) >= 40, "B's first records")
        b_jid = journal_id(rig.journal(B))
        (b_row,) = rows(rig.hub_db, "SELECT site, room, journal, agent FROM devices WHERE"
                        " device = ?", [B.username])
        now = datetime.now(UTC).timestamp()
        steal_client_ids(rig.broker, figures)
        third = probe(rig.broker, C)
        clients.append(third)
        send(third, hp.unprovisioned(now).messages, figures)
        columns = [r[1] for r in rows(rig.hub_db, "PRAGMA table_info(readings)")]
        b_old = hp.as_items(rows(rig.hub_db, "SELECT * FROM readings WHERE device = ? AND"
                                 " journal = ? ORDER BY seq LIMIT 20", [B.username, b_jid]),
                            columns)
        to_hub, dropped = hp.replays(b_old, b_jid)
        # Each of A's connections has A's client id: these go before A's working one.
        denied(rig.broker, dropped.messages + hp.acl_dropped(now).messages, figures)
        a = probe(rig.broker, A)
        clients.append(a)
        a.subscribe(topic(A.site, A.room, ACK))
        ext = hp.extremes(now)
        send(a, ext.messages, figures)
        a.wait_for(lambda: acked(a) >= ext.last, "A's ack of its own records")
        for part in (hp.forged(b_jid, now), hp.rewrites(b_jid, now), hp.ghosts(now), to_hub):
            send(a, part.messages, figures)
        figures["b_when_forged"] = last_seq(rig.journal(B))
        send(a, [hp.status(A.username, hp.A_JOURNAL, now, agent="voyant-edge", oldest=MAX_SEQ),
                 hp.held_alarm_of_year_9999(now)], figures)
        jumps = hp.jumps(ext.last)
        send(a, [jumps["max"], jumps["window"]], figures)
        wait_until(lambda: counter(rig, "records_beyond_window") == 2, "both jumps refused")
        jump_at = ext.last + WINDOW + 1
        cli(rig, "journal", "accept-jump", A.username, hp.A_JOURNAL, str(jump_at), "--by",
            "suite", "--reason", "a box restored from an old image")
        wait_until(lambda: bool(rows(rig.hub_db, "SELECT 1 FROM events WHERE kind = 'data_gap'"
                                     " AND device = ?", [A.username])), "the declared gap")
        send(a, [jumps["window"], jumps["max"], ext.messages[0]], figures)  # and a replay
        barrier(a, jump_at + 1, figures)
        assert room.wait(DRAIN_S) == 0, room.text()[-2000:]
        wait_until(lambda: len(rows(rig.hub_db, "SELECT 1 FROM rejected WHERE topic LIKE"
                                    " 'voyant/v1/chu/ir3/%'")) == 3, "C's messages refused")
        assert a.disconnects == [], "A lost its connection"
        secret = rig.directory / "robot.password"
        secret.write_text(PASSWORD + "\n", encoding="utf-8")
        cli(rig, "user", "add", "robot", "--role", "pcr", "--password-file", str(secret))
        token = cli(rig, "token", "add", "robot", "--name", "hostile suite").strip()
        base = re.findall(r"event=web_listening url=(\S+)", hub.text())[-1].rstrip("/")
        auth = {"Authorization": f"Bearer {token}"}
        urls = {u: httpx.get(base + u, headers=auth, timeout=30).status_code
                for u in (*ISSUE_URLS, "/api/events")}
        assert hub.stop() == 0
        return Outcome(rig, b_jid, b_row, ext, jump_at, token, urls,
                       {"hub": hub.text(), "room": room.text(),
                        "broker": rig.broker.log_text()}, figures)
    finally:
        for client in clients:
            client.close()
        for proc in procs:
            proc.close()


def run(directory: Path) -> Outcome:
    """The whole attack on a fresh broker, hub and room B in ``directory``; then the
    quarter's report drafts on the store it left (raises :class:`MosquittoMissing`)."""
    broker = Mosquitto(directory / "mosquitto", HUB, (*DEVICES, C))
    broker.start()
    try:
        rig = Rig(directory, broker)
        provision_hub(rig)
        result = attack(rig, Counter())
    finally:
        broker.stop()
    prepare_reports(result)
    return result


def summary(result: Outcome) -> str:
    """The suite's figures, for the lead to quote (printed with ``-s``)."""
    figures = result.figures
    return (f"hostile-device suite: payloads tried {figures['payloads']} (carrying"
            f" {figures['records']} records; {figures['takeovers']} client-id takeovers);"
            f" records compared {figures['compared']}; routes × roles walked"
            f" {figures['routes']} × {len(ROLES)} ({figures['walked']} requests); 500s:"
            f" {figures['500s']}; B had journaled {figures['b_when_forged']} of its"
            f" {figures['b_last']} records when A's forgeries were all sent; the issue's URLs"
            f" answered {', '.join(str(result.urls[u]) for u in ISSUE_URLS)}")


def prepare_reports(result: Outcome) -> None:
    """The quarter in which A's flagged records were received: its drafts, as the
    scheduler or the PCR's "Prepare now" would make them."""
    conn = connect(result.rig.hub_db)
    try:
        (received,) = rows(result.rig.hub_db, "SELECT max(stored_at) FROM received WHERE"
                           " device = ?", [A.username])[0]
        when = datetime.fromisoformat(str(received).replace("Z", "+00:00"))
        assert preparation.prepare_quarter(conn, quarters.quarter_of(when), datetime.now(UTC))
    finally:
        conn.close()
