"""The broker files on a real Mosquitto: the ACL confines each device to its room, the queue
limits let a catching-up hub receive its whole backlog, and the generated files say so."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from hub.broker.files import (
    BrokerFilesError,
    BrokerSettings,
    DeviceAccount,
    HubAccount,
    acl_text,
    hash_password,
    mosquitto_conf,
    passwd_text,
    verify_password,
)
from sim.broker import (
    Mosquitto,
    MosquittoFailed,
    catches_sighup,
    find_mosquitto,
    free_port,
    launch_mosquitto,
    wait_reloadable,
)
from tests.mqtt_fixtures import DEVICES, HUB, ProbeFactory
from wire.contract import ACK, AGENT_KINDS, HUB_SUBSCRIPTION, QOS, READINGS, RETAIN, STATUS, topic

NOT_AUTHORIZED = 135
IR1, IR2 = topic("chu", "ir1", READINGS), topic("chu", "ir2", READINGS)
ACK1, ACK2 = topic("chu", "ir1", ACK), topic("chu", "ir2", ACK)


# -- the ACL on a running broker -------------------------------------------------------


def test_device_cannot_publish_as_another_room(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory
) -> None:
    hub = mqtt_probe(mosquitto, "hub")
    hub.subscribe("voyant/v1/#")
    device = mqtt_probe(mosquitto, "chu.ir1")
    assert device.publish_wait(IR2, b"forged").value == NOT_AUTHORIZED
    assert not device.publish_wait(IR1, b"legit").is_failure
    before = hub.wait_received(IR1, b"legit")  # same client, in order: forged would come first
    assert [m.payload for m in before] == [b"legit"]


@pytest.mark.parametrize("stolen", ["hub", "chu.ir2", "voyant-hub"])
def test_no_account_can_push_another_off_with_its_client_id(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory, stolen: str
) -> None:
    """``use_username_as_clientid``: a device connecting with the hub's (or another room's)
    client id gets its own username as client id; the hub and room B stay connected."""
    hub = mqtt_probe(mosquitto, "hub", client_id="hub", protocol=mqtt.MQTTv311, clean=False)
    room_b = mqtt_probe(mosquitto, "chu.ir2", client_id="chu.ir2")
    hub.subscribe("voyant/v1/#")
    for _ in range(5):
        thief = mqtt_probe(mosquitto, "chu.ir1", client_id=stolen)
        assert not thief.publish_wait(IR1, b"thief").is_failure
        thief.close()
    assert not room_b.publish_wait(IR2, b"still here").is_failure
    hub.wait_received(IR2, b"still here")
    assert hub.disconnects == [] and room_b.disconnects == []


def test_a_forbidden_publish_costs_the_device_its_connection(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory
) -> None:
    """Mosquitto 2.0 closes an MQTT 5 client's connection after the 135 PUBACK
    (eclipse-mosquitto/mosquitto#2579); its last will fires: agents must stay in their topics."""
    hub = mqtt_probe(mosquitto, "hub")
    hub.subscribe("voyant/v1/#")
    device = mqtt_probe(mosquitto, "chu.ir1", connect=False)
    device.client.will_set(topic("chu", "ir1", STATUS), b"offline", qos=1)
    device.connect()
    device.publish_wait(IR2, b"forged")
    device.wait_for(lambda: bool(device.disconnects), "the broker to drop the device")
    hub.wait_received(topic("chu", "ir1", STATUS), b"offline")


def test_device_cannot_publish_its_own_ack(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory
) -> None:
    hub = mqtt_probe(mosquitto, "hub")
    hub.subscribe("voyant/v1/#")
    device = mqtt_probe(mosquitto, "chu.ir1")
    assert device.publish_wait(ACK1, b'{"upto": 999}').value == NOT_AUTHORIZED
    device.publish_wait(IR1, b"legit")
    assert [m.topic for m in hub.wait_received(IR1, b"legit")] == [IR1]


@pytest.mark.parametrize("subscription", [ACK2, "voyant/v1/#", "voyant/v1/+/+/ack"])
def test_device_reads_only_its_own_ack(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory, subscription: str
) -> None:
    device = mqtt_probe(mosquitto, "chu.ir1")
    device.subscribe(subscription)  # Mosquitto 2.0 grants it and filters each delivery
    device.subscribe(ACK1)
    hub = mqtt_probe(mosquitto, "hub")
    hub.publish_wait(ACK2, b"for ir2", retain=True)
    hub.publish_wait(ACK1, b"for ir1", retain=True)
    got = device.wait_received(ACK1, b"for ir1")
    assert {m.topic for m in got} == {ACK1}  # overlapping subscriptions may deliver it twice


@pytest.mark.parametrize(("username", "password"), [
    ("chu.ir1", "wrong"), ("chu.ir1", ""), ("nobody", "ir1-secret"), ("hub", "ir1-secret"),
])
def test_bad_credentials_are_refused(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory, username: str, password: str
) -> None:
    probe = mqtt_probe(mosquitto, username, password=password, connect=False)
    rc = probe.connect()
    assert rc.is_failure and rc.value in (134, 135), rc  # bad user name or password / not auth.


def test_hub_reads_every_kind_of_every_room_and_acks_each(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory
) -> None:
    hub = mqtt_probe(mosquitto, "hub")
    hub.subscribe(HUB_SUBSCRIPTION)
    for account in DEVICES:
        device = mqtt_probe(mosquitto, account.username)
        device.subscribe(topic(account.site, account.room, ACK))
        for kind in AGENT_KINDS:
            where = topic(account.site, account.room, kind)
            device.publish(where, kind.encode(), qos=QOS[kind], retain=RETAIN[kind])
        last = topic(account.site, account.room, AGENT_KINDS[-1])
        hub.wait_received(last, AGENT_KINDS[-1].encode())
        ack = topic(account.site, account.room, ACK)
        assert not hub.publish_wait(ack, b"ack", retain=True).is_failure
        device.wait_received(ack, b"ack")
    evidence = [m.topic for m in hub.messages if not m.topic.endswith(f"/{ACK}")]  # own acks too
    expected = [topic(d.site, d.room, kind) for d in DEVICES for kind in AGENT_KINDS]
    assert sorted(evidence) == sorted(expected)


def test_a_payload_above_the_contract_limit_still_reaches_the_hub(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory
) -> None:
    """The hub refuses 512 KiB batches itself, with a reason: the broker must pass them on."""
    hub = mqtt_probe(mosquitto, "hub")
    hub.subscribe(HUB_SUBSCRIPTION)
    big = b"x" * (512 * 1024)
    assert not mqtt_probe(mosquitto, "chu.ir1").publish_wait(IR1, big).is_failure
    hub.wait_received(IR1, big)


# -- a hub catching up after an outage -------------------------------------------------


def _backlog(broker: Mosquitto, mqtt_probe: ProbeFactory, count: int,
             restart: Callable[[], None] | None = None) -> set[bytes]:
    """Queue ``count`` QoS 1 messages for a disconnected persistent hub; return what it gets."""
    hub = mqtt_probe(broker, "hub", client_id="voyant-hub", protocol=mqtt.MQTTv311, clean=False)
    hub.subscribe(HUB_SUBSCRIPTION)
    hub.close()
    device = mqtt_probe(broker, "chu.ir1")
    mids = [device.publish(IR1, str(n).encode()) for n in range(count)]
    device.wait_for(lambda: len(device.published) == count, f"{count} PUBACKs")
    assert all(not device.published[m].is_failure for m in mids)
    if restart is not None:
        restart()
    hub = mqtt_probe(broker, "hub", client_id="voyant-hub", protocol=mqtt.MQTTv311, clean=False)
    assert hub.session_present
    hub.wait_for(lambda: len(hub.messages) >= count, f"{count} queued messages")
    return set(hub.received(IR1))


def test_a_reconnecting_hub_receives_its_whole_backlog(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory
) -> None:
    assert _backlog(mosquitto, mqtt_probe, 5000) == {str(n).encode() for n in range(5000)}


def test_mosquittos_default_queue_limit_would_cut_the_hub_off(
    make_mosquitto: Callable[..., Mosquitto], mqtt_probe: ProbeFactory
) -> None:
    """The control for the test above: with Mosquitto's default limit the backlog is cut."""
    broker = make_mosquitto(settings={"max_queued_messages": 1000})
    hub = mqtt_probe(broker, "hub", client_id="voyant-hub", protocol=mqtt.MQTTv311, clean=False)
    hub.subscribe(HUB_SUBSCRIPTION)
    hub.close()
    device = mqtt_probe(broker, "chu.ir1")
    for n in range(3000):
        device.publish(IR1, str(n).encode())
    device.wait_for(lambda: len(device.published) == 3000, "3000 PUBACKs")
    hub = mqtt_probe(broker, "hub", client_id="voyant-hub", protocol=mqtt.MQTTv311, clean=False)
    hub.wait_for(lambda: len(hub.messages) >= 1000, "the first 1000 queued messages")
    hub.publish(ACK1, b"marker")  # the hub's subscription matches acks: queued behind the rest
    hub.wait_received(ACK1, b"marker")
    assert 1000 <= len(hub.received(IR1)) < 2000


def test_the_backlog_survives_a_broker_restart_on_the_same_port(
    mosquitto: Mosquitto, mqtt_probe: ProbeFactory
) -> None:
    port, pid = mosquitto.port, mosquitto.pid
    got = _backlog(mosquitto, mqtt_probe, 200, restart=mosquitto.restart)
    assert got == {str(n).encode() for n in range(200)}
    assert mosquitto.port == port and mosquitto.pid not in (None, pid)


def test_kill_and_start_again(mosquitto: Mosquitto, mqtt_probe: ProbeFactory) -> None:
    mosquitto.kill()
    assert mosquitto.pid is None and not mosquitto.running
    mosquitto.start()
    assert mosquitto.pid is not None
    mqtt_probe(mosquitto, "hub")


def test_a_broker_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, HUB, DEVICES, settings={"bind_address": "192.0.2.1"})
    with pytest.raises(MosquittoFailed, match="exited with"):
        broker.start()
    assert not broker.running


def test_the_launcher_names_the_port_that_never_listened_and_stops_the_broker(
    tmp_path: Path,
) -> None:
    listening, silent = free_port(), free_port()
    conf = tmp_path / "one-listener.conf"
    conf.write_text(f"listener {listening} 127.0.0.1\nallow_anonymous true\n")
    with pytest.raises(MosquittoFailed, match=f"not listening on {silent} after 0.5 s") as caught:
        launch_mosquitto(find_mosquitto(), conf, tmp_path / "one.log", [listening, silent],
                         timeout=0.5)
    assert f"log {tmp_path / 'one.log'}" in str(caught.value)
    with pytest.raises(OSError):  # killed, not left listening
        socket.create_connection(("127.0.0.1", listening), timeout=1).close()


def test_a_started_broker_survives_a_reload_sent_at_once(
    make_mosquitto: Callable[..., Mosquitto], mqtt_probe: ProbeFactory
) -> None:
    """Mosquitto listens before it catches SIGHUP: started means reloadable too. (The race
    lasts microseconds on a quiet machine: the next test, with a process that catches
    SIGHUP late on purpose, is the one that fails without the wait.)"""
    for _ in range(5):
        broker = make_mosquitto()
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGHUP)  # what a test adding an account sends at once
        mqtt_probe(broker, "hub")
        assert broker.running, broker.log_path.read_text()
        broker.stop()


#: Listens at once, and catches SIGHUP only when told to (Mosquitto's order, held open):
#: then answers each line it reads, so that the test sees it still runs.
LATE_HANDLER = """
import signal, socket, sys
listener = socket.create_server(("127.0.0.1", 0))
print("listening", flush=True)
sys.stdin.readline()
signal.signal(signal.SIGHUP, lambda *_: None)
for line in sys.stdin:
    print("alive", flush=True)
"""


def test_the_launcher_waits_until_the_broker_catches_sighup() -> None:
    process = subprocess.Popen([sys.executable, "-c", LATE_HANDLER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline() == "listening\n"
        assert not catches_sighup(process.pid)  # a SIGHUP now would end it
        assert wait_reloadable(process, 0.2) == "did not install its signal handlers in time"
        process.stdin.write("install\n")
        process.stdin.flush()
        assert wait_reloadable(process, 10.0) is None
        process.send_signal(signal.SIGHUP)
        process.stdin.write("still there?\n")
        process.stdin.flush()
        assert process.stdout.readline() == "alive\n"  # caught: it runs on
    finally:
        process.kill()
        process.wait()
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert wait_reloadable(ended, 1.0) == "exited with 0"


def test_a_missing_mosquitto_fails_the_test_naming_the_package(
    make_mosquitto: Callable[..., Mosquitto]
) -> None:
    with pytest.raises(pytest.fail.Exception, match="Debian package 'mosquitto'"):
        make_mosquitto(executable="mosquitto-not-installed")


# -- the generated files ---------------------------------------------------------------


def test_acl_lists_every_device_explicitly() -> None:
    text = acl_text(HUB, DEVICES)
    assert "pattern" not in text and "%" not in text
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in text.split("\n\n")[1:]}
    assert blocks["user hub"] == ["topic write voyant/v1/+/+/ack", "topic read voyant/v1/#"]
    assert blocks["user chu.ir2"] == [
        *(f"topic write voyant/v1/chu/ir2/{kind}" for kind in AGENT_KINDS),
        "topic write homeassistant/+/voyant_chu_ir2/#",  # its own discovery node only
        "topic read voyant/v1/chu/ir2/ack",
    ]


@pytest.mark.parametrize(("fields", "message"), [
    ({"username": "chu ir1"}, "device username 'chu ir1' contains ' '"),
    ({"username": "chu#1"}, "contains '#'"),
    ({"username": "chu+1"}, "contains '+'"),
    ({"username": "chu/ir1"}, "contains '/'"),
    ({"username": ""}, "is empty"),
    ({"site": "c.h"}, "site 'c.h' contains '.'"),
    ({"room": "ir 1"}, "room 'ir 1' contains ' '"),
    ({"room": "+"}, "contains '+'"),
    ({"password": ""}, "empty password"),
    ({"password": "a\nb"}, "line break"),
])
def test_bad_names_are_refused(fields: dict[str, str], message: str) -> None:
    values = {"username": "chu.ir1", "password": "p", "site": "chu", "room": "ir1", **fields}
    with pytest.raises(BrokerFilesError, match=re.escape(message)):
        DeviceAccount(**values)


def test_bad_hub_username_is_refused() -> None:
    with pytest.raises(BrokerFilesError, match="hub username 'hub/x' contains '/'"):
        HubAccount("hub/x", "p")


def test_one_login_per_account_and_one_agent_per_room() -> None:
    twin = DeviceAccount("chu.ir1", "x", "chu", "ir9")
    with pytest.raises(BrokerFilesError, match=re.escape("'chu.ir1' is used twice")):
        acl_text(HUB, [*DEVICES, twin])
    squatter = DeviceAccount("other", "x", "chu", "ir1")
    with pytest.raises(BrokerFilesError, match="both claim room chu/ir1"):
        acl_text(HUB, [*DEVICES, squatter])
    with pytest.raises(BrokerFilesError, match="'hub' is used twice"):
        acl_text(HUB, [DeviceAccount("hub", "x", "chu", "ir3")])
    clash = [DeviceAccount("a", "x", "a_b", "c"), DeviceAccount("b", "x", "a", "b_c")]
    with pytest.raises(BrokerFilesError, match="share the Home Assistant node id voyant_a_b_c"):
        acl_text(HUB, clash)


def test_passwords_are_hashed_and_never_printed() -> None:
    text = passwd_text([HUB, *DEVICES])
    assert "secret" not in text and "secret" not in repr(DEVICES) + repr(HUB)
    user, hashed = text.splitlines()[1].split(":", 1)
    assert user == "chu.ir1" and hashed.startswith("$7$101$")
    assert verify_password("ir1-secret", hashed) and not verify_password("ir1-secreT", hashed)
    assert hash_password("p") != hash_password("p")  # salted


def test_hashes_match_mosquitto_passwd(tmp_path: Path) -> None:
    """Our verifier accepts Mosquitto's hashes (Mosquitto accepts ours: every test above)."""
    tool = find_mosquitto("mosquitto_passwd")
    subprocess.run([tool, "-c", "-b", str(tmp_path / "pw"), "alice", "s3cret"], check=True)
    hashed = (tmp_path / "pw").read_text().strip().split(":", 1)[1]
    assert verify_password("s3cret", hashed) and not verify_password("s3cre", hashed)


def test_conf_names_the_files_and_lifts_the_queue_limits(tmp_path: Path) -> None:
    text = mosquitto_conf(BrokerSettings(tmp_path / "passwd", tmp_path / "acl", port=1884,
                                         persistence_location=tmp_path / "p"))
    lines = set(text.splitlines())
    assert {"allow_anonymous false", f"password_file {tmp_path}/passwd", "persistence true",
            f"acl_file {tmp_path}/acl", "listener 1884 0.0.0.0", "max_queued_messages 0",
            "max_queued_bytes 0", "max_packet_size 1048576", f"persistence_location {tmp_path}/p/",
            "log_dest stdout"} <= lines
    assert not any(line.startswith("persistence_location") for line in mosquitto_conf(
        BrokerSettings(tmp_path / "passwd", tmp_path / "acl")).splitlines())


@pytest.mark.parametrize("bad", [{"bind_address": "0.0.0.0\nallow_anonymous true"},
                                 {"port": 0}, {"autosave_interval": 0}, {"max_queued_bytes": -1}])
def test_settings_that_would_inject_or_break_a_line_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(BrokerFilesError):
        BrokerSettings(Path("/p"), Path("/a"), **bad)  # type: ignore[arg-type]
