"""The one logfmt logger (wire.logs): the agent's and the hub's lines keep one format."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from edge_agent.logs import AGENT
from hub.logs import HUB
from wire.logs import Component, LogfmtFormatter, logfmt_value


@pytest.fixture
def component(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Component, io.StringIO]]:
    """A component of its own, set up to write to a captured stdout."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    logs = Component("voyant.test_logs")
    logs.setup("debug")
    try:
        yield logs, out
    finally:
        logs.logger.handlers.clear()


def test_a_line_is_level_event_then_the_fields_in_order(
        component: tuple[Component, io.StringIO]) -> None:
    logs, out = component
    logs.log("alarm_raised", kind="door_open_during_emission", subject="corridor", n=3)
    logs.log("message_rejected", logging.WARNING, reason='bad "v" = 2', empty="")
    assert out.getvalue().splitlines() == [
        "level=info event=alarm_raised kind=door_open_during_emission subject=corridor n=3",
        'level=warning event=message_rejected reason="bad \\"v\\" = 2" empty=""',
    ]


def test_a_newline_or_a_traceback_stays_on_one_line(
        component: tuple[Component, io.StringIO]) -> None:
    logs, out = component
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logs.log("failed", logging.ERROR, exc_info=True, detail="two\nlines")
    (line,) = out.getvalue().splitlines()
    assert line.startswith('level=error event=failed detail="two\\nlines" traceback="Traceback')
    assert "RuntimeError: boom" in line


def test_below_the_level_nothing_is_written(component: tuple[Component, io.StringIO]) -> None:
    logs, out = component
    logs.setup("warning")
    logs.log("quiet", logging.INFO)
    assert out.getvalue() == ""


def test_each_component_has_its_name_and_does_not_propagate() -> None:
    assert AGENT.logger.name == "voyant" and HUB.logger.name == "voyant.hub"
    logs = Component("voyant.test_propagate")
    logs.setup()
    try:
        assert logs.logger.propagate is False
        assert isinstance(logs.logger.handlers[0].formatter, LogfmtFormatter)
    finally:
        logs.logger.handlers.clear()


@pytest.mark.parametrize(("value", "text"), [
    ("plain", "plain"), (12.5, "12.5"), ("", '""'), ("a b", '"a b"'), ("a=b", '"a=b"'),
    ('say "hi"', '"say \\"hi\\""'), ("back\\slash x", '"back\\\\slash x"'),
    ("line\nbreak", '"line\\nbreak"'),
    ("é\ud800x", "é\\ud800x"),  # a lone surrogate (a hostile JSON escape) as its escape
])
def test_values(value: object, text: str) -> None:
    assert logfmt_value(value) == text


def test_a_lone_surrogate_is_written_as_a_line_not_lost(
    component: tuple[Component, io.StringIO],
) -> None:
    """stdout (UTF-8 on a box) could not write one: the whole line was lost."""
    logs, out = component
    logs.log("record_quarantined", logging.WARNING, reason="calibration: \udcff")
    line = out.getvalue()
    assert line == 'level=warning event=record_quarantined reason="calibration: \\\\udcff"\n'
    line.encode("utf-8")
