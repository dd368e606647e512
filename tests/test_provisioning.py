"""``voyant-hub device add|revoke|list`` and ``broker-config``'s TLS, down to a real Mosquitto.

The last tests run Mosquitto on the files the commands wrote (TLS listener with
a test CA made by ``openssl``): a device added publishes over TLS; after
``device revoke`` and a SIGHUP its open connection is closed and its
credentials are refused.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import Device, Mqtt
from hub.broker.files import verify_password
from hub.cli import main
from sim.broker import HOST, MosquittoMissing, find_mosquitto, free_port, launch_mosquitto
from tests.mqtt_fixtures import MqttProbe

HEADER = """# Our rooms. Keep this comment.
[hub]
username = "hub"

# the first room
[devices."chu.ir1"]
site = "chu"
room = "ir1"
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    return {"devices": tmp_path / "devices.toml", "out": tmp_path / "out"}


def _device(paths: dict[str, Path], *args: str) -> int:
    return main(["device", *args, "--devices", str(paths["devices"]), "--out", str(paths["out"])])


def test_add_prints_the_agent_configuration_not_the_password(
    paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    paths["devices"].write_text(HEADER)
    assert _device(paths, "add", "chu", "ir2", "--host", "hub.chu.example") == 0
    out = capsys.readouterr().out
    secret = paths["out"] / "secrets" / "chu.ir2.password"
    password = secret.read_text().strip()
    assert _mode(secret) == 0o600 and _mode(secret.parent) == 0o700 and len(password) >= 32
    assert password not in out and str(secret) in out and "systemctl reload mosquitto" in out
    snippet = tomllib.loads(out[out.index("# /etc/voyant/agent.toml"):])
    device, mqtt_table = Device(**snippet["device"]), Mqtt(**snippet["mqtt"])
    assert (device.site, device.room, device.device_id) == ("chu", "ir2", "chu.ir2")
    assert (mqtt_table.host, mqtt_table.port, mqtt_table.username) == (
        "hub.chu.example", 8883, "chu.ir2")
    assert mqtt_table.tls is not None and mqtt_table.password_file == "/etc/voyant/mqtt.password"
    text = paths["devices"].read_text()
    assert text.startswith(HEADER) and '[devices."chu.ir2"]' in text
    hashes = dict(line.split(":", 1)
                  for line in (paths["out"] / "voyant.passwd").read_text().splitlines())
    assert set(hashes) == {"hub", "chu.ir1", "chu.ir2"}
    assert verify_password(password, hashes["chu.ir2"])
    acl = (paths["out"] / "voyant.acl").read_text()
    assert "user chu.ir2\ntopic write voyant/v1/chu/ir2/status" in acl
    assert "topic write homeassistant/+/voyant_chu_ir2/#" in acl
    assert _mode(paths["out"] / "voyant.passwd") == 0o600
    assert not (paths["out"] / "voyant.conf").exists()  # broker-config's, with the TLS paths


def test_show_password_prints_it_once(paths: dict[str, Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert _device(paths, "add", "chu", "ir1", "--id", "box-7", "--show-password") == 0
    out = capsys.readouterr().out
    password = (paths["out"] / "secrets" / "box-7.password").read_text().strip()
    assert out.count(password) == 1 and 'id = "box-7"' in out
    assert "[devices.\"box-7\"]" in paths["devices"].read_text()  # a new file, created


@pytest.mark.parametrize(("args", "message"), [
    (["chu", "ir1"], "device chu.ir1 exists already (site chu, room ir1)"),
    (["chu", "ir1", "--id", "other"], "room chu/ir1 already has device chu.ir1"),
    (["chu", "ir/9"], "room 'ir/9' contains '/'"),
    (["c.h", "ir9"], "site 'c.h' contains '.'"),
    (["chu", "ir9", "--id", "a b"], "device id 'a b' contains ' '"),
    (["chu", "ir9", "--id", "hub"], "the hub's own username"),
    (["chu_ir1", "x"], "share the Home Assistant node id"),
])
def test_add_refuses_with_a_reason(paths: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                   args: list[str], message: str) -> None:
    paths["devices"].write_text(HEADER + '\n[devices.x1]\nsite = "chu"\nroom = "ir1_x"\n')
    before = paths["devices"].read_text()
    assert _device(paths, "add", *args) == 2
    assert message in capsys.readouterr().err
    assert paths["devices"].read_text() == before  # nothing changed
    assert not (paths["out"] / "voyant.passwd").exists()


@pytest.mark.parametrize(("text", "message"), [
    (HEADER + 'colour = "red"\n', 'devices.toml: devices.chu.ir1.colour: unknown key'),
    (HEADER + "[devices.x\n", "devices.toml:9: not valid TOML"),
])
def test_a_broken_devices_file_is_named_line_by_line(
    paths: dict[str, Path], capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    """The devices file is read as every configuration is (wire.settings): the file, the key
    or the line, and nothing written."""
    paths["devices"].write_text(text)
    assert _device(paths, "add", "chu", "ir2") == 2
    assert message in capsys.readouterr().err
    assert paths["devices"].read_text() == text


def test_revoke_removes_the_table_the_secret_and_the_acl_lines(
    paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    paths["devices"].write_text(HEADER)
    assert _device(paths, "add", "chu", "ir2") == 0
    assert _device(paths, "add", "chu", "ir3") == 0
    capsys.readouterr()
    assert _device(paths, "revoke", "chu.ir2") == 0
    out = capsys.readouterr().out
    assert "systemctl reload mosquitto" in out and "kill -HUP" in out
    text = paths["devices"].read_text()
    assert "chu.ir2" not in text and text.startswith(HEADER) and '[devices."chu.ir3"]' in text
    assert not (paths["out"] / "secrets" / "chu.ir2.password").exists()
    assert (paths["out"] / "secrets" / "chu.ir3.password").exists()
    assert "chu.ir2" not in (paths["out"] / "voyant.acl").read_text()
    assert "chu.ir2:" not in (paths["out"] / "voyant.passwd").read_text()
    assert _device(paths, "list") == 0
    listing = capsys.readouterr().out
    assert "chu.ir1" in listing and "chu.ir3" in listing and "chu.ir2" not in listing
    assert _device(paths, "revoke", "chu.ir2") == 2
    assert "no device 'chu.ir2'" in capsys.readouterr().err
    assert _device(paths, "add", "chu", "ir2") == 0  # the room can be provisioned again


def test_revoke_keeps_the_comment_of_the_next_table(paths: dict[str, Path]) -> None:
    paths["devices"].write_text(HEADER + '\n# the second room\n[devices."chu.ir2"]\n'
                                'site = "chu"\nroom = "ir2"\n')
    assert _device(paths, "revoke", "chu.ir1") == 0
    text = paths["devices"].read_text()
    assert "# the second room\n[devices.\"chu.ir2\"]" in text and "chu.ir1" not in text


def test_broker_config_requires_tls_or_an_explicit_no_tls(
    paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    paths["devices"].write_text(HEADER)
    base = ["broker-config", "--devices", str(paths["devices"]), "--out", str(paths["out"])]
    assert main(base) == 2
    assert "TLS is required: give --tls-cert, --tls-key and --tls-ca" in capsys.readouterr().err
    assert not (paths["out"] / "secrets").exists()  # refused before generating anything
    assert main([*base, "--tls-cert", "/c/hub.crt"]) == 2
    assert "go together" in capsys.readouterr().err
    tls = ["--tls-cert", "/c/hub.crt", "--tls-key", "/c/hub.key", "--tls-ca", "/c/ca.crt"]
    assert main([*base, *tls, "--no-tls"]) == 2
    assert "--no-tls contradicts" in capsys.readouterr().err
    assert main([*base, *tls]) == 0
    conf = (paths["out"] / "voyant.conf").read_text().splitlines()
    assert {"allow_anonymous false", "listener 1883 127.0.0.1", "listener 8883 0.0.0.0",
            "certfile /c/hub.crt", "keyfile /c/hub.key", "cafile /c/ca.crt"} <= set(conf)
    assert main([*base, "--no-tls"]) == 0
    assert "not for production" in capsys.readouterr().out
    assert not any(line.startswith("listener 8883") for line in
                   (paths["out"] / "voyant.conf").read_text().splitlines())
    paths["devices"].write_text('[broker]\nbind_address = "0.0.0.0"\n' + HEADER)
    assert main([*base, "--no-tls"]) == 2
    assert "serves this machine only" in capsys.readouterr().err


# -- a real Mosquitto on the generated files -------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> dict[str, Path]:
    """A test CA and a broker certificate for 127.0.0.1 (EC keys: fast)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=voyant test CA", cwd=folder)
    _openssl("req", *ec, "-keyout", "hub.key", "-out", "hub.csr", "-subj", "/CN=127.0.0.1",
             cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "hub.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "hub.crt", "-days", "2", "-extfile", "san.ext",
             cwd=folder)
    return {name: folder / f"{name}.{ext}" for name, ext in
            (("ca", "crt"), ("hub", "crt"), ("key", "key"))} | {"key": folder / "hub.key"}


@pytest.fixture
def run_mosquitto() -> Iterator[Callable[[Path, list[int]], subprocess.Popen[bytes]]]:
    """``run(conf, ports)``: Mosquitto on a generated configuration (through the launcher:
    it fails naming why, with its log), stopped after the test."""
    processes: list[subprocess.Popen[bytes]] = []

    def run(conf: Path, ports: list[int]) -> subprocess.Popen[bytes]:
        try:
            executable = find_mosquitto()
        except MosquittoMissing as exc:
            pytest.fail(str(exc), pytrace=False)
        if os.geteuid() == 0:  # else Mosquitto drops to "mosquitto", who cannot read tmp_path
            conf.write_text(conf.read_text() + "user root\n")
        process = launch_mosquitto(executable, conf, conf.with_suffix(".log"), ports)
        processes.append(process)
        return process

    yield run
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


def _tls_probe(port: int, username: str, password: str, ca: Path, **options: Any) -> MqttProbe:
    probe = MqttProbe(HOST, port, username, password, **options)
    probe.client.tls_set(ca_certs=str(ca))
    return probe


def _answers_plain_mqtt(port: int) -> bool:
    """Whether a clear-text MQTT CONNECT (anonymous, 3.1.1) gets a CONNACK on ``port``."""
    connect = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 0])
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(connect)
        try:
            answer = sock.recv(4)
        except OSError:
            return False
    return answer[:1] == b"\x20"


def test_a_device_added_publishes_over_tls_and_is_refused_once_revoked(
    tmp_path: Path, paths: dict[str, Path], capsys: pytest.CaptureFixture[str],
    run_mosquitto: Callable[[Path, list[int]], subprocess.Popen[bytes]],
) -> None:
    certs = make_certificates(tmp_path / "certs")
    plain, tls = free_port(), free_port()
    out = paths["out"]
    paths["devices"].write_text(
        f'[broker]\nport = {plain}\npassword_file = "{out}/voyant.passwd"\n'
        f'acl_file = "{out}/voyant.acl"\npersistence_location = "{tmp_path}/persist"\n'
        f'autosave_interval = 1\n[broker.tls]\nport = {tls}\nbind_address = "{HOST}"\n'
        f'cafile = "{certs["ca"]}"\ncertfile = "{certs["hub"]}"\nkeyfile = "{certs["key"]}"\n')
    (tmp_path / "persist").mkdir()
    assert _device(paths, "add", "chu", "ir1", "--host", HOST) == 0
    assert f"port = {tls}" in capsys.readouterr().out
    assert main(["broker-config", "--devices", str(paths["devices"]), "--out", str(out)]) == 0
    broker = run_mosquitto(out / "voyant.conf", [plain, tls])
    hub_password = (out / "secrets" / "hub.password").read_text().strip()
    password = (out / "secrets" / "chu.ir1.password").read_text().strip()

    hub = MqttProbe(HOST, plain, "hub", hub_password)  # the plain listener: loopback
    assert not hub.connect().is_failure
    hub.subscribe("voyant/v1/#")
    device = _tls_probe(tls, "chu.ir1", password, certs["ca"])
    try:
        assert not device.connect().is_failure
        assert not device.publish_wait("voyant/v1/chu/ir1/dose_rate", b"0.12").is_failure
        hub.wait_received("voyant/v1/chu/ir1/dose_rate", b"0.12")
        assert device.publish_wait("voyant/v1/chu/ir2/dose_rate", b"1").is_failure  # not its room
        wrong = _tls_probe(tls, "chu.ir1", "not-the-password", certs["ca"])
        assert wrong.connect().is_failure
        wrong.close()
        assert not _answers_plain_mqtt(tls)

        device.disconnects.clear()
        assert _device(paths, "revoke", "chu.ir1") == 0
        broker.send_signal(signal.SIGHUP)  # what systemctl reload mosquitto sends
        device.wait_for(lambda: bool(device.disconnects), "the revoked device's disconnection")
    finally:
        device.close()
        hub.close()
    again = _tls_probe(tls, "chu.ir1", password, certs["ca"])
    try:
        rc = again.connect()
        assert rc.is_failure and rc.getName() in ("Not authorized", "Bad user name or password")
    finally:
        again.close()
