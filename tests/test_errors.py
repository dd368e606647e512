"""One exception root: every exception class of agent, hub, wire and simulator is a
:class:`wire.errors.VoyantError`, under its area's class, so that ``except VoyantError``
means "an error Voyant raised on purpose" wherever it is written.

``firmware_py`` is left out on purpose: it runs on the probe's MicroPython, which has
neither pydantic nor the ``wire`` package, so it cannot import the root (it defines no
exception class today; the walk below would not reach it).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

from wire.errors import AgentError, ConfigError, HubError, SimError, VoyantError

#: The packages walked, and the area class each package's exceptions derive from
#: (a configuration mistake is a ConfigError wherever it is found).
AREAS: dict[str, tuple[type[VoyantError], ...]] = {
    "wire": (VoyantError,),
    "edge_agent": (AgentError, ConfigError),
    "hub": (HubError, ConfigError),
    "sim": (SimError, ConfigError),
}


def modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    found = [root]
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        found.append(importlib.import_module(info.name))
    return found


def exception_classes(package: str) -> list[type[BaseException]]:
    return [obj for module in modules(package) for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, BaseException)
            and obj.__module__ == module.__name__]


@pytest.mark.parametrize("package", sorted(AREAS))
def test_every_exception_class_is_under_the_root_and_its_area(package: str) -> None:
    classes = exception_classes(package)
    outside = [f"{c.__module__}.{c.__qualname__}" for c in classes
               if not issubclass(c, AREAS[package])]
    assert not outside, f"not under {[a.__name__ for a in AREAS[package]]}: {outside}"


def test_the_walk_finds_the_known_classes() -> None:
    """The walk sees classes of every kind (so that the test above cannot pass empty)."""
    names = {c.__qualname__ for package in AREAS for c in exception_classes(package)}
    assert {"WireError", "JournalError", "StoreError", "ScenarioError", "LoginRequired",
            "Refused", "MosquittoFailed"} <= names


def test_each_keeps_the_builtin_it_resembled() -> None:
    """``except ValueError`` / ``OSError`` / ``RuntimeError`` / ``LookupError`` written
    before the root still catch what they caught."""
    from edge_agent.errors import JournalError, ProbeError
    from hub.errors import StoreError
    from hub.events.workflow import EventError, EventNotFound
    from sim.scenario_toml import ScenarioError
    from wire.contract import WireError

    assert issubclass(ConfigError, ValueError) and issubclass(WireError, ValueError)
    assert issubclass(ScenarioError, ValueError) and issubclass(EventError, ValueError)
    assert issubclass(ProbeError, OSError) and issubclass(EventNotFound, LookupError)
    assert issubclass(JournalError, RuntimeError) and issubclass(StoreError, RuntimeError)


def test_the_firmware_defines_no_exception_class() -> None:
    """The exclusion above stays true to its word: if the firmware grows an exception
    class, this says so (and where it should be documented why it is outside)."""
    assert exception_classes("firmware_py") == []
