"""The shared configuration kernel (wire.settings): one line per mistake, naming the file.

The agent's, the hub's and the simulator's readers all go through it, so each way a
file can be wrong is checked here once, with the error class each caller passes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field, ValidationError

from sim.scenario_toml import ScenarioError
from wire.errors import ConfigError, VoyantError
from wire.settings import (
    MAX_TEXT_BYTES,
    Strict,
    describe_errors,
    load_toml,
    parse_toml,
    read_text,
    summarize_errors,
    toml_error_line,
    validate,
)


class Inner(Strict):
    port: Annotated[int, Field(ge=1, le=65535)] = 1883


class Outer(Strict):
    name: str
    inner: Inner = Inner()


def write(tmp_path: Path, text: str | bytes, name: str = "x.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_into_a_frozen_model(tmp_path: Path) -> None:
    loaded = load_toml(Outer, write(tmp_path, 'name = "a"\n[inner]\nport = 8883\n'))
    assert loaded == Outer(name="a", inner=Inner(port=8883))
    with pytest.raises(ValidationError):
        loaded.name = "b"  # type: ignore[misc]


def test_a_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "none.toml"
    with pytest.raises(ConfigError) as err:
        load_toml(Outer, path)
    assert str(err.value) == f"{path}: cannot read the configuration: No such file or directory"


def test_an_unreadable_file_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal the kernel gets for a file it may not read (as root, too: injected)."""
    path = write(tmp_path, 'name = "a"\n')

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError, match=r"x\.toml: cannot read the configuration: Permission"):
        load_toml(Outer, path)


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration: Is a directory"):
        load_toml(Outer, tmp_path)


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    os.mkfifo(path)  # a read would block until someone writes
    with pytest.raises(ConfigError, match=r"hub\.toml: cannot read the configuration: not a"
                                          r" regular file"):
        load_toml(Outer, path)


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    with path.open("wb") as handle:
        handle.truncate(MAX_TEXT_BYTES + 1)  # sparse: nothing written
    with pytest.raises(ConfigError, match=f"{MAX_TEXT_BYTES + 1} bytes, more than"):
        load_toml(Outer, path)


def test_text_that_is_not_utf8_is_refused_not_crashed_on(tmp_path: Path) -> None:
    path = write(tmp_path, b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError) as err:
        load_toml(Outer, path)
    assert str(err.value) == f"{path}: expected UTF-8 text: invalid continuation byte"


def test_bad_toml_gives_its_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "a"\n\n[inner\n')
    with pytest.raises(ConfigError) as err:
        load_toml(Outer, path)
    message = str(err.value)
    assert message.startswith(f"{path}:3: not valid TOML: ") and "(at line 3, column 7)" in message
    assert "\n" not in message


def test_each_broken_key_is_one_line_with_its_dotted_place(tmp_path: Path) -> None:
    path = write(tmp_path, '[inner]\nport = 0\nprot = 1\n')
    with pytest.raises(ConfigError) as err:
        load_toml(Outer, path)
    assert str(err.value).split("\n") == [
        f"{path}: name: required key is missing",
        f"{path}: inner.port: Input should be greater than or equal to 1 (got 0)",
        f"{path}: inner.prot: unknown key",
    ]


def test_a_model_rule_reads_without_pydantics_prefix() -> None:
    class Pair(Strict):
        low: int = 0
        high: int = 1

        def model_post_init(self, context: object) -> None:
            if self.low > self.high:
                raise ValueError("low must not exceed high")

    with pytest.raises(ValidationError) as err:
        Pair(low=2, high=1)
    assert describe_errors(err.value, "f.toml") == "f.toml: low must not exceed high"
    with pytest.raises(ConfigError, match=r"^f\.toml: low must not exceed high$"):
        validate(Pair, {"low": 2, "high": 1}, "f.toml")


def test_the_caller_chooses_the_error_class(tmp_path: Path) -> None:
    """The simulator reads scenarios through the same functions, as ScenarioError."""
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        read_text(tmp_path / "none.toml", "scenario", ScenarioError)
    with pytest.raises(ScenarioError, match=r"^s\.toml:1: not valid TOML"):
        parse_toml("= 1\n", "s.toml", ScenarioError)
    assert issubclass(ScenarioError, VoyantError) and not issubclass(ScenarioError, ConfigError)


def test_toml_error_line() -> None:
    assert toml_error_line("Expected '=' (at line 12, column 3)") == 12
    assert toml_error_line("Invalid value") is None


def test_a_payloads_errors_are_summarised_on_one_line() -> None:
    """What a refused message is stored with: the first three, then how many more."""
    class Many(Strict):
        a: int
        b: int
        c: int
        d: int

    with pytest.raises(ValidationError) as err:
        Many.model_validate({"a": "x", "e": 1})
    assert summarize_errors(err.value) == (
        "a: Input should be a valid integer, unable to parse string as an integer; "
        "b: Field required; c: Field required (and 2 more)")
