"""The agent's publisher against a real Mosquitto, with a test client playing the hub.

A broker's PUBACK is not an acknowledgement: records leave the outbox only
when the hub's ``ack`` covers them; what stays unacknowledged is sent again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge_agent.changes import ChangeRecord
from edge_agent.config import Device, Mqtt
from edge_agent.journal import Journal
from edge_agent.monitor.records import AlarmRecord, Reading
from edge_agent.outbox import Outbox
from edge_agent.publisher import Publisher
from edge_agent.send_state import BATCH_BURST, BATCHES_PER_S, Budget, SendState
from hub.broker.files import TlsListener
from sim.broker import Mosquitto, free_port
from tests.mqtt_fixtures import DEVICES, MqttProbe
from tests.wire_rig import wait_until
from wire import contract as wire
from wire.chain import record_hash

ROOM = DEVICES[0]
DEVICE = Device(site=ROOM.site, room=ROOM.room, id=ROOM.username)


def reading(k: int) -> Reading:
    return Reading(10.0 * k, 10.0 * (k + 1), 3, 10.0, 18.0, 0.0003, 0.1, 0.06, 0.8, 0.5, False,
                   "sbm20/Cs-137", 100, 0)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "journal.db", durable=False)
    journal.start_run(1_767_596_400.0)
    yield journal
    journal.close()


def write(journal: Journal, first: int, last: int) -> None:
    for k in range(first, last + 1):
        journal.reading(reading(k), lambda t: 1_767_596_400.0 + t)


@pytest.fixture
def broker(make_mosquitto: Callable[..., Mosquitto]) -> Mosquitto:
    return make_mosquitto()


@pytest.fixture
def hub(broker: Mosquitto, mqtt_probe: Callable[..., MqttProbe]) -> MqttProbe:
    probe = mqtt_probe(broker, "hub")
    probe.subscribe(wire.HUB_SUBSCRIPTION)
    return probe


@pytest.fixture
def start(
    broker: Mosquitto, journal: Journal, tmp_path: Path
) -> Iterator[Callable[..., Publisher]]:
    started: list[Publisher] = []
    secret = tmp_path / "password"
    secret.write_text(ROOM.password)

    def make(**settings: object) -> Publisher:
        mqtt = Mqtt.model_validate({
            "host": broker.host, "port": broker.port, "username": ROOM.username,
            "password_file": str(secret), "reconnect_min_s": 0.05, "reconnect_max_s": 0.2,
            "ack_timeout_s": 0.5, "heartbeat_s": 0.5, **settings})
        publisher = Publisher(mqtt, DEVICE, journal.path)
        publisher.start()
        started.append(publisher)
        return publisher
    yield make
    for publisher in started:
        publisher.stop()


def seqs(hub: MqttProbe) -> list[int]:
    out = []
    for payload in hub.received(wire.topic(ROOM.site, ROOM.room, wire.READINGS)):
        out += [item["seq"] for item in json.loads(payload)["items"]]
    return out


def ack(hub: MqttProbe, journal_id: str, upto: int) -> None:
    message = wire.Ack(v=1, device=ROOM.username, journal=journal_id, upto=upto,
                       at="2026-01-05T08:00:00Z")
    hub.publish_wait(wire.topic(ROOM.site, ROOM.room, wire.ACK), message.to_bytes(), retain=True)


def test_a_puback_is_not_enough_to_forget_a_record(
    journal: Journal, hub: MqttProbe, start: Callable[..., Publisher]
) -> None:
    write(journal, 1, 30)
    publisher = start(ack_timeout_s=60.0)
    hub.wait_for(lambda: len(set(seqs(hub))) == 30, "30 readings at the hub")
    assert Outbox(journal.path).backlog() == 30  # the broker has them; the hub said nothing
    ack(hub, journal.journal_id, 20)
    wait_until(lambda: Outbox(journal.path).backlog() == 10, "records 1..20 forgotten")
    assert publisher.acked == 20


def test_unacknowledged_records_are_sent_again_after_the_time_out(
    journal: Journal, hub: MqttProbe, start: Callable[..., Publisher]
) -> None:
    write(journal, 1, 5)
    start()
    hub.wait_for(lambda: seqs(hub).count(1) >= 2, "a resend of the silent hub's records")
    assert seqs(hub)[:10] == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]  # in order, again from the start


def test_an_acknowledgement_of_another_journal_is_ignored(
    journal: Journal, hub: MqttProbe, start: Callable[..., Publisher]
) -> None:
    write(journal, 1, 5)
    publisher = start(ack_timeout_s=60.0)
    hub.wait_for(lambda: len(seqs(hub)) == 5, "5 readings")
    ack(hub, "f" * 32, 5)
    ack(hub, journal.journal_id, 2)
    wait_until(lambda: publisher.acked == 2, "the right journal's ack")
    assert Outbox(journal.path).backlog() == 3


def test_new_records_flow_and_a_retained_ack_is_read_at_restart(
    journal: Journal, hub: MqttProbe, start: Callable[..., Publisher]
) -> None:
    write(journal, 1, 3)
    first = start(ack_timeout_s=60.0)
    hub.wait_for(lambda: len(seqs(hub)) == 3, "3 readings")
    ack(hub, journal.journal_id, 3)
    wait_until(lambda: first.acked == 3, "ack")
    first.stop()
    write(journal, 4, 6)
    second = start(ack_timeout_s=60.0)
    hub.wait_for(lambda: 6 in seqs(hub), "the new readings")
    assert sorted(seqs(hub)) == [1, 2, 3, 4, 5, 6]  # nothing acknowledged was sent again
    assert second.acked == 3


def test_status_live_state_and_plain_dose_rate_are_retained(
    journal: Journal, hub: MqttProbe, start: Callable[..., Publisher]
) -> None:
    publisher = start()
    publisher.set_live({"inputs": {"emission": False}, "alarms": [], "exposure_open": False,
                        "calibration": "sbm20/Cs-137", "interlock_open": None}, 0.1234)
    where = {k: wire.topic(ROOM.site, ROOM.room, k) for k in (wire.STATUS, wire.LIVE,
                                                               wire.DOSE_RATE)}
    hub.wait_for(lambda: all(hub.received(t) for t in where.values()), "status, live, dose")
    status = wire.decode(where[wire.STATUS], hub.received(where[wire.STATUS])[0])[1]
    live = wire.decode(where[wire.LIVE], hub.received(where[wire.LIVE])[0])[1]
    assert isinstance(status, wire.Status) and status.state == "online"
    assert isinstance(live, wire.Live) and live.calibration == "sbm20/Cs-137"
    assert live.dose_rate_usv_h == pytest.approx(0.1234)
    assert hub.received(where[wire.DOSE_RATE])[0] == b"0.1234"
    publisher.stop()
    hub.wait_for(lambda: b'"offline"' in hub.received(where[wire.STATUS])[-1], "offline")


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA and a broker certificate for localhost, made with the openssl command."""
    paths = {name: directory / f"{name}.pem" for name in ("ca", "ca-key", "server", "server-key")}
    csr, ext = directory / "server.csr", directory / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=Voyant test CA", "-keyout", str(paths["ca-key"]),
            "-out", str(paths["ca"]))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", str(paths["server-key"]), "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(paths["ca"]),
            "-CAkey", str(paths["ca-key"]), "-CAcreateserial", "-days", "2", "-extfile", str(ext),
            "-out", str(paths["server"]))
    return paths


def test_publishing_over_tls(
    tmp_path: Path, make_mosquitto: Callable[..., Mosquitto], journal: Journal,
    mqtt_probe: Callable[..., MqttProbe],
) -> None:
    certs = make_certificates(tmp_path)
    tls_port = free_port()
    broker = make_mosquitto(settings={"tls": TlsListener(
        port=tls_port, cafile=certs["ca"], certfile=certs["server"], keyfile=certs["server-key"])})
    hub = mqtt_probe(broker, "hub")
    hub.subscribe(wire.HUB_SUBSCRIPTION)
    write(journal, 1, 3)
    secret = tmp_path / "password"
    secret.write_text(ROOM.password)
    settings = {"host": "localhost", "port": tls_port, "username": ROOM.username,
                "password_file": str(secret), "reconnect_min_s": 0.05, "reconnect_max_s": 0.2,
                "tls": {"ca_file": str(certs["ca"])}}
    publisher = Publisher(Mqtt.model_validate(settings), DEVICE, journal.path)
    publisher.start()
    try:
        hub.wait_for(lambda: len(seqs(hub)) == 3, "3 readings over TLS")
    finally:
        publisher.stop()
    # A broker whose certificate this CA did not sign is refused.
    (tmp_path / "other").mkdir()
    settings["tls"] = {"ca_file": str(make_certificates(tmp_path / "other")["ca"])}
    refused = Publisher(Mqtt.model_validate(settings), DEVICE, journal.path)
    refused.start()
    try:
        wait_until(lambda: refused.failed_connects >= 2, "refused TLS handshakes")
        assert not refused.connected
    finally:
        refused.stop()


# -- what leaves, in which order: the worker's cycle on a stand-in for paho's client --------


class Receipt:
    """paho's MQTTMessageInfo: whether the broker has the message."""

    def __init__(self) -> None:
        self.published = False

    def is_published(self) -> bool:
        return self.published


class Client:
    """paho's client as the worker uses it: every message kept, with its receipt."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, Receipt]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Receipt:
        self.sent.append((topic, payload, Receipt()))
        return self.sent[-1][2]

    def broker_has_all(self) -> None:
        for _, _, receipt in self.sent:
            receipt.published = True

    def batches(self) -> list[tuple[str, int, int, int]]:
        """(kind, first, last, oldest) of each record batch, each valid whole."""
        out = []
        for topic, payload, _ in self.sent:
            _, batch = wire.decode(topic, payload)
            if isinstance(batch, wire.ReadingBatch | wire.ExposureBatch | wire.AlarmBatch
                          | wire.ChangeBatch):
                out.append((batch.kind, batch.first, batch.last, batch.oldest))
        return out


class Worker:
    """The publisher's worker, one cycle at a time, connected to :class:`Client`."""

    def __init__(self, journal: Journal, **settings: object) -> None:
        self.settings = Mqtt.model_validate({"host": "localhost", **settings})
        self.publisher = Publisher(self.settings, DEVICE, journal.path)
        self.client = Client()
        self.publisher.client = self.client  # type: ignore[assignment]
        self.publisher.journal_id = journal.journal_id
        self.publisher._link.connected = True
        self.outbox = Outbox(journal.path)
        self.state = SendState(acked=self.outbox.acked(), timeout=self.settings.ack_timeout_s)

    def cycle(self, times: int = 1) -> None:
        for _ in range(times):
            self.publisher._cycle(self.outbox, self.state)

    def ack(self, upto: int) -> None:
        message = wire.Ack(v=1, device=ROOM.username, journal=self.publisher.journal_id,
                           upto=upto, at="2026-01-05T08:00:00Z")
        received = SimpleNamespace(topic=wire.topic(ROOM.site, ROOM.room, wire.ACK),
                                   payload=message.to_bytes())
        self.publisher._on_message(None, None, received)  # type: ignore[arg-type]

    def reconnect(self) -> None:
        self.publisher._link.reconnected = True

    def close(self) -> None:
        self.outbox.close()


def alarm(journal: Journal, number: int) -> None:
    journal.alarm_raised(AlarmRecord(number, "unsolicited_emission", None, 5.0, 5.0),
                         lambda t: 1_767_596_400.0 + t)


def test_a_new_alarm_leaves_in_the_next_batch_before_4000_waiting_readings(
    journal: Journal,
) -> None:
    write(journal, 1, 4000)
    worker = Worker(journal)
    worker.cycle(3)  # readings 1..100 leave; no more while the broker has not got them
    alarm(journal, 1)  # seq 4001
    worker.cycle()
    worker.client.broker_has_all()
    worker.cycle()
    assert worker.client.batches() == [
        ("readings", 1, 100, 1), ("alarms", 4001, 4001, 1), ("readings", 101, 200, 1)]
    worker.close()


def test_changes_travel_in_order_with_the_readings_on_the_exposures_topic(
    journal: Journal,
) -> None:
    write(journal, 1, 2)
    for k in range(3):  # seq 3..5: a door, then a pulse train's run
        journal.change(ChangeRecord("emission", k % 2 == 0, 20.0 + k, 20.1 + k, 2 + k),
                       lambda t: 1_767_596_400.0 + t)
    write(journal, 3, 3)  # seq 6
    alarm(journal, 1)  # seq 7: first, as always
    worker = Worker(journal)
    for _ in range(4):
        worker.cycle()
        worker.client.broker_has_all()
    # a batch per kind, each in order: the readings' hole (3..5) is the changes' batch
    assert worker.client.batches() == [
        ("alarms", 7, 7, 1), ("readings", 1, 6, 1), ("changes", 3, 5, 1)]
    (topic, payload), = [(t, p) for t, p, _ in worker.client.sent if b'"kind":"readings"' in p]
    assert [r.seq for r in wire.decode_chain(topic, payload).records] == [1, 2, 6]
    (topic, payload), = [(t, p) for t, p, _ in worker.client.sent if b'"kind":"changes"' in p]
    assert topic == wire.topic(ROOM.site, ROOM.room, wire.EXPOSURES)
    decoded = wire.decode_chain(topic, payload)
    assert isinstance(decoded.envelope, wire.ChangeBatch)
    assert [r.seq for r in decoded.records] == [3, 4, 5]
    assert all(isinstance(r, wire.ChangeItem) for r in decoded.records)
    assert [raw["prev"] for raw in decoded.raws[1:]] == [
        record_hash(raw) for raw in decoded.raws[:-1]]  # each as sent, chained
    worker.close()


def test_a_backlog_of_alternating_kinds_leaves_in_a_few_batches(journal: Journal) -> None:
    """Readings and changes alternating in the outbox (a day of fluoroscopy behind an
    outage): each round sends one batch of each kind, ``batch_max`` records in all, each
    batch in order with holes where the other kind's records are."""
    for k in range(300):
        write(journal, k, k)
        journal.change(ChangeRecord("emission", k % 2 == 0, 10.0 * k, 10.0 * k, 1),
                       lambda t: 1_767_596_400.0 + t)
    worker = Worker(journal)
    for _ in range(20):
        worker.cycle()
        worker.client.broker_has_all()
    sent = worker.client.batches()
    assert len(sent) == 2 * 600 // 100  # batch_max 100: 50 readings and 50 changes a round
    assert [(kind, first) for kind, first, _, _ in sent[:4]] == [
        ("readings", 1), ("changes", 2), ("readings", 101), ("changes", 102)]
    numbers = sorted(r.seq for t, p, _ in worker.client.sent if b'"kind":"' in p
                     and b'"alarms"' not in p for r in wire.decode_chain(t, p).records)
    assert numbers == list(range(1, 601))
    worker.close()


def test_batches_are_paced_under_what_the_hub_takes_from_one_device() -> None:
    """The budget of batches: BATCH_BURST at once, then BATCHES_PER_S a second."""
    budget = Budget()
    assert budget.take(1000.0, int(BATCH_BURST) - 1) and budget.take(1000.0)
    assert not budget.take(1000.0)
    assert not budget.take(1000.5, int(BATCHES_PER_S))  # half a second: half of them
    assert budget.take(1001.0, int(BATCHES_PER_S))
    assert not budget.take(1001.0)


def test_nothing_leaves_beyond_the_window_until_the_hub_acknowledges(journal: Journal) -> None:
    write(journal, 1, 300)
    alarm(journal, 1)  # seq 301, beyond a window of 150
    worker = Worker(journal, window=150)
    for _ in range(4):
        worker.cycle()
        worker.client.broker_has_all()
    assert worker.client.batches() == [("readings", 1, 100, 1), ("readings", 101, 150, 1)]
    worker.ack(150)
    worker.cycle()
    assert worker.client.batches()[2:] == [("readings", 151, 250, 151)]
    worker.client.broker_has_all()
    worker.ack(155)  # the window reaches 305: the alarm goes first
    worker.cycle()
    assert worker.client.batches()[3:] == [("alarms", 301, 301, 156), ("readings", 251, 300, 156)]
    worker.close()


def test_an_ack_beyond_what_was_sent_forgets_nothing_unsent(journal: Journal) -> None:
    """A journal restored from an older copy: the hub's retained ack is ahead of it. The
    records it re-makes under those numbers must reach the hub (which compares each with
    the copy it holds), not be forgotten unsent."""
    write(journal, 1, 30)
    worker = Worker(journal)
    worker.ack(500)  # retained, from before the restore
    worker.cycle()
    worker.client.broker_has_all()
    assert worker.client.batches() == [("readings", 1, 30, 1)]
    worker.cycle()  # sent now: the ack covers them
    assert Outbox(journal.path).backlog() == 0
    write(journal, 31, 35)
    worker.cycle()
    assert worker.client.batches()[1:] == [("readings", 31, 35, 31)]
    worker.close()


def test_an_alarm_sent_first_does_not_let_an_ack_ahead_forget_the_readings_below_it(
        journal: Journal) -> None:
    """Alarms leave before readings: an ack ahead of the journal covers a record only once
    every record below it has been sent, not merely the highest one sent."""
    write(journal, 1, 30)
    alarm(journal, 1)  # seq 31, sent in the first round
    worker = Worker(journal, batch_max=10)
    worker.ack(500)
    worker.cycle()
    assert worker.client.batches() == [("alarms", 31, 31, 1), ("readings", 1, 10, 1)]
    for _ in range(6):
        worker.client.broker_has_all()
        worker.cycle()
    sent = sorted(seq for kind, first, last, _ in worker.client.batches()
                  for seq in range(first, last + 1) if kind == "readings")
    assert sent == list(range(1, 31))  # every reading left before it was forgotten
    assert Outbox(journal.path).backlog() == 0
    worker.close()


def test_an_acknowledgement_that_moves_back_resends_nothing_forgotten(journal: Journal) -> None:
    write(journal, 1, 30)
    worker = Worker(journal)
    for _ in range(2):
        worker.cycle()
        worker.client.broker_has_all()
    worker.ack(20)
    worker.cycle()
    assert Outbox(journal.path).backlog() == 10 and worker.publisher.oldest == 21
    worker.ack(5)  # the hub's store was restored from an older copy
    worker.reconnect()
    worker.cycle()
    worker.client.broker_has_all()
    write(journal, 31, 35)
    worker.cycle()
    sent = worker.client.batches()
    assert sent[-2:] == [("readings", 21, 30, 21), ("readings", 31, 35, 21)]  # what it holds
    assert worker.publisher.acked == 20 and Outbox(journal.path).backlog() == 15
    status = wire.decode(wire.topic(ROOM.site, ROOM.room, wire.STATUS),
                         worker.publisher._status("online", worker.publisher.oldest))[1]
    assert isinstance(status, wire.Status) and status.oldest == 21
    worker.close()
    restarted = Worker(journal)  # a restart reads the hub's lower retained ack: no matter
    restarted.ack(5)
    restarted.cycle()
    assert restarted.client.batches() == [("readings", 21, 35, 21)]
    restarted.close()


def test_a_journal_of_the_previous_agent_drains_through_the_broker(
    tmp_path: Path, hub: MqttProbe, broker: Mosquitto,
) -> None:
    path = tmp_path / "old" / "journal.db"
    path.parent.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "journal_v3.db", path)  # NaN readings inside
    journal = Journal(path, durable=False)
    journal.start_run(1_767_600_100.0)  # the upgraded agent starts on it
    secret = tmp_path / "password"
    secret.write_text(ROOM.password)
    publisher = Publisher(Mqtt.model_validate({
        "host": broker.host, "port": broker.port, "username": ROOM.username,
        "password_file": str(secret), "ack_timeout_s": 60.0}), DEVICE, path)
    publisher.start()
    try:
        def received() -> list[wire.Record | wire.RefusedItem]:
            out: list[wire.Record | wire.RefusedItem] = []
            for kind in wire.RECORD_KINDS:
                topic = wire.topic(ROOM.site, ROOM.room, kind)
                for payload in hub.received(topic):
                    out += wire.decode_chain(topic, payload).records
            return out
        hub.wait_for(lambda: len(received()) == 16, "records 4..19 at the hub")
        got = received()
        assert sorted(r.seq for r in got) == list(range(4, 20))
        assert [r for r in got if isinstance(r, wire.RefusedItem)] == []
        ack(hub, journal.journal_id, 19)
        wait_until(lambda: publisher.acked == 19, "everything acknowledged")
        assert Outbox(path).backlog() == 0
    finally:
        publisher.stop()
        journal.close()
