"""The hub's configuration: defaults, one line per mistake, secrets kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli import main
from hub.config import HubConfig, load_config, parse_config
from wire.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_empty_file_gives_safe_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config == HubConfig()
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.client_id) == (
        "127.0.0.1", 1883, "voyant-hub")
    assert config.broker.mode == "external"
    assert (config.ingest.gap_timeout_s, config.ingest.offline_grace) == (60.0, 3.0)


def test_fractions_of_a_second_for_reconnect(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[mqtt]\nreconnect_min_s = 0.05\nreconnect_max_s = 0.2\n"))
    assert config.mqtt.reconnect_min_s == 0.05


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mqtt]\nprot = 1\n", "hub.toml: mqtt.prot: unknown key"),
        ("[mqtt]\nport = 0\n", "hub.toml: mqtt.port: Input should be greater than or equal to 1"),
        ("[broker]\nmode = 'cloud'\n", "hub.toml: broker.mode:"),
        ("[ingest]\nbatch_max = 0\n", "hub.toml: ingest.batch_max:"),
        ("[mqtt]\nreconnect_min_s = 5\nreconnect_max_s = 1\n",
         "hub.toml: mqtt: reconnect_min_s must not exceed reconnect_max_s"),
        ("[mqtt.tls]\ncert_file = 'c.pem'\n", "hub.toml: mqtt.tls: cert_file and key_file go"),
        ("[mqtt]\npassword_file = 'p'\n", "hub.toml: mqtt: password_file needs a username"),
        ("[mqtt\n", "hub.toml:1: not valid TOML"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_config(tmp_path / "nope.toml")


def test_password_is_read_from_its_file_only(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n", encoding="utf-8")
    config = parse_config({"mqtt": {"username": "hub", "password_file": str(secret)}})
    assert config.mqtt.read_password() == "s3cret"
    assert "s3cret" not in repr(config)


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices."chu.ir1"]\nsite = "chu"\nroom = "ir1"\n', encoding="utf-8")
    assert main(["check-config", str(write(
        tmp_path, f"[broker]\ndevices = '{devices}'\n[store]\npath = 'x.db'\n"))]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["check-config", str(write(tmp_path, "[store]\npath = 'x.db'\n"))]) == 2
    assert "broker.devices: required: the devices file" in capsys.readouterr().err
    devices.write_text('[devices."chu.ir1"]\nsite = "chu/x"\n', encoding="utf-8")
    assert main(["check-config", str(write(
        tmp_path, f"[broker]\ndevices = '{devices}'\n"))]) == 2
    assert "devices.chu.ir1" in capsys.readouterr().err
    assert main(["check-config", str(write(tmp_path, "[mqtt]\nusername = 'hub'\n"
                                                     "password_file = '/nonexistent'\n"))]) == 2
    err = capsys.readouterr().err
    assert "mqtt.password_file: cannot read /nonexistent" in err


def test_run_with_a_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(write(tmp_path, "[ingest]\nbogus = 1\n"))]) == 2
    assert "ingest.bogus: unknown key" in capsys.readouterr().err
