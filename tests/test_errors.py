"""One exception root: every exception class of agent, hub, wire and simulator is a
:class:`wire.errors.VoyantError`, under its area's class, so that ``except VoyantError``
means "an error Voyant raised on purpose" wherever it is written.

``firmware_py`` is left out on purpose: it runs on the probe's MicroPython, which has
neither pydantic nor the ``wire`` package, so it cannot import the root (it defines no
exception class today; the walk below would not reach it).
"""

from __future__ import annotations

import builtins
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


#: Every exception class and the builtin exceptions it derives from, as before the root
#: (453228c; the classes added since carry what their siblings carry). A class added
#: later must be entered here: its builtin decides what an ``except`` elsewhere catches.
BUILTINS: dict[str, set[str]] = {
    "VoyantError": set(), "AgentError": set(), "HubError": set(), "SimError": set(),
    "ConfigError": {"ValueError"}, "WireError": {"ValueError"},
    "AccountError": {"ValueError"}, "BrokerFilesError": {"ValueError"},
    "ControlError": {"ValueError"}, "EventError": {"ValueError"},
    "ProvisioningError": {"ValueError"}, "ScenarioError": {"ValueError"},
    "ExportUnreadable": {"ValueError"},
    "CatalogError": {"ValueError"}, "EventNotFound": {"LookupError"}, "ProbeError": {"OSError"},
    "DemoError": {"RuntimeError"}, "InvalidRecord": {"RuntimeError"},
    "JournalError": {"RuntimeError"}, "LockstepError": {"RuntimeError"},
    "MosquittoFailed": {"RuntimeError"}, "MosquittoMissing": {"RuntimeError"},
    "StoreError": {"RuntimeError"}, "StoreReplaced": {"RuntimeError"},
    "StoreTooNew": {"RuntimeError"}, "WebBindError": {"RuntimeError"},
    "Forbidden": set(), "LoginRequired": set(), "PointError": set(), "Refused": set(),
    "ReportError": set(), "RdsrError": {"ValueError"}, "LabelError": {"ValueError"},
    "DicomBindError": {"RuntimeError"}, "MappingError": {"ValueError"},
    "OperatorError": {"ValueError"}, "RoomUnknown": {"LookupError"},
}
_BUILTIN = {v for v in vars(builtins).values()
            if inspect.isclass(v) and issubclass(v, BaseException)} - {BaseException, Exception}


def test_each_keeps_the_builtin_it_resembled() -> None:
    """``except ValueError`` / ``OSError`` / ``RuntimeError`` / ``LookupError`` written
    before the root still catch what they caught, and nothing more."""
    classes = [c for package in AREAS for c in exception_classes(package)]
    names = [c.__qualname__ for c in classes]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    found = {c.__qualname__: {b.__name__ for b in c.__mro__ if b in _BUILTIN} for c in classes}
    assert found.keys() == BUILTINS.keys(), ("classes not in the table:",
                                             found.keys() - BUILTINS.keys(), "gone:",
                                             BUILTINS.keys() - found.keys())
    changed = {name: (BUILTINS[name], found[name]) for name in found
               if found[name] != BUILTINS[name]}
    assert not changed, changed


def test_the_web_refusals_are_still_http_exceptions() -> None:
    from fastapi import HTTPException

    from hub.web.auth import Forbidden, LoginRequired

    assert issubclass(Forbidden, HTTPException) and issubclass(LoginRequired, HTTPException)


def test_the_firmware_defines_no_exception_class() -> None:
    """The exclusion above stays true to its word: if the firmware grows an exception
    class, this says so (and where it should be documented why it is outside)."""
    assert exception_classes("firmware_py") == []
