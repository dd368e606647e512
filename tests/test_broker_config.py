"""``voyant-hub broker-config``: files and permissions, passwords kept out of the TOML."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hub.broker.config import broker_config_main
from hub.broker.files import verify_password

DEVICES_TOML = """
[broker]
bind_address = "127.0.0.1"
autosave_interval = 30

[devices."chu.ir1"]
site = "chu"
room = "ir1"

[devices."chu.ir2"]
site = "chu"
room = "ir2"
password_file = "ir2.pw"
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(tmp_path: Path, text: str, *options: str) -> int:
    """``--no-tls`` unless other options are given (tests/test_provisioning.py tests TLS)."""
    (tmp_path / "devices.toml").write_text(text)
    return broker_config_main(["--devices", str(tmp_path / "devices.toml"),
                               "--out", str(tmp_path / "out"), *(options or ["--no-tls"])])


def test_writes_the_three_files_and_generates_missing_passwords(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ir2.pw").write_text("ir2-from-file\n")
    assert _run(tmp_path, DEVICES_TOML) == 0
    out = tmp_path / "out"
    assert {_mode(out / "voyant.passwd"), _mode(out / "voyant.acl"),
            _mode(out / "voyant.conf")} == {0o600, 0o640}
    assert _mode(out / "voyant.passwd") == 0o600 and _mode(out / "secrets") == 0o700
    assert sorted(p.name for p in (out / "secrets").iterdir()) == [
        "chu.ir1.password", "hub.password"]  # chu.ir2 has its own file
    assert all(_mode(p) == 0o600 for p in (out / "secrets").iterdir())
    hashes = dict(line.split(":", 1) for line in (out / "voyant.passwd").read_text().splitlines())
    ir1 = (out / "secrets" / "chu.ir1.password").read_text().strip()
    assert verify_password(ir1, hashes["chu.ir1"])
    assert verify_password("ir2-from-file", hashes["chu.ir2"])
    conf = (out / "voyant.conf").read_text().splitlines()
    assert "listener 1883 127.0.0.1" in conf and "autosave_interval 30" in conf
    assert "password_file /etc/mosquitto/voyant.passwd" in conf
    assert not any(line.startswith("persistence_location") for line in conf)  # Debian's
    assert "topic write voyant/v1/chu/ir2/readings" in (out / "voyant.acl").read_text()
    assert "generated a password in" in capsys.readouterr().out


def test_a_second_run_keeps_every_password(tmp_path: Path) -> None:
    (tmp_path / "ir2.pw").write_text("ir2-from-file\n")
    assert _run(tmp_path, DEVICES_TOML) == 0
    before = (tmp_path / "out" / "secrets" / "chu.ir1.password").read_text()
    assert _run(tmp_path, DEVICES_TOML + '\n[devices."chu.ir3"]\nsite = "chu"\nroom = "ir3"\n') == 0
    assert (tmp_path / "out" / "secrets" / "chu.ir1.password").read_text() == before
    assert (tmp_path / "out" / "secrets" / "chu.ir3.password").exists()


@pytest.mark.parametrize(("text", "message"), [
    ('[devices."chu.ir1"]\nsite = "chu"\nroom = "ir1"\npassword = "s3cret"\n',
     "devices.chu.ir1.password: passwords are not kept in this file"),
    ('[devices."chu ir1"]\nsite = "chu"\nroom = "ir1"\n', "device username 'chu ir1' contains ' '"),
    ('[devices."../x"]\nsite = "chu"\nroom = "ir1"\n', "contains '/'"),
    ('[devices.a]\nsite = "chu"\nroom = "ir/1"\n', "a: room 'ir/1' contains '/'"),
    ('[devices.a]\nsite = "chu"\nroom = "ir1"\npassword_file = "missing"\n', "a: cannot read"),
    ('[devices.a]\nsite = "chu"\nroom = "ir1"\ncolour = "red"\n', "devices.a.colour: unknown key"),
    ('[broker]\nbind_address = "0.0.0.0 1884"\n', "contains whitespace"),
    ('[broker]\nbind_address = "10.1.2.3"\n', "serves this machine only"),
    ('[broker.tls]\ncafile = "a"\ncertfile = "b"\nkeyfile = "c"\nport = 1883\n',
     "--no-tls contradicts the devices file's [broker.tls] table"),
    ("[devices\n", "devices.toml:1: not valid TOML"),
])
def test_mistakes_are_refused_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    assert _run(tmp_path, text) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "voyant.passwd").exists()


@pytest.mark.parametrize(("content", "message"), [
    (None, "devices.toml: cannot read the devices file: No such file or directory"),
    (b'[devices.a]\nsite = "caf\xe9"\n', "devices.toml: expected UTF-8 text"),
    (b'[hub]\nusername = "hub"\n\n[devices.a\n', "devices.toml:4: not valid TOML"),
])
def test_an_unreadable_devices_file_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    """The devices file is read as every configuration is (wire.settings): one line."""
    from hub.broker.config import read_devices_file
    from hub.broker.files import BrokerFilesError

    path = tmp_path / "devices.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BrokerFilesError) as err:
        read_devices_file(path)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
