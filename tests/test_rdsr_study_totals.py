"""A study's figures whichever way its reports arrived (#17, :mod:`hub.rdsr.study_totals`):
reports scoped per performed procedure step with distinct events add up; cumulative reports
of the same events are never added."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from hub.db.connection import connect
from hub.db.store import Store
from hub.rdsr.store import store_bytes
from hub.rdsr.study_totals import study_totals
from tests import rdsr_builder as b


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    Store.open(tmp_path / "hub.db").close()
    c = connect(tmp_path / "hub.db")
    yield c
    c.close()


def _acquisition(event: pydicom.Dataset) -> pydicom.Dataset:
    """The builder's fluoroscopy event made a stationary acquisition (DCM 113611)."""
    kind = event.ContentSequence[2].ConceptCodeSequence[0]
    kind.CodeValue, kind.CodingSchemeDesignator = "113611", "DCM"
    return event


def _file(study: str, events: list[pydicom.Dataset], dap: str, kar: str, fluoro: str,
          psd: str | None = None) -> bytes:
    figures = [b.num("113722", dap, "Gy.m2"), b.num("113725", kar, "Gy"),
               b.num("113730", fluoro, "s")]
    ds = b.report(b.accumulated(*figures), *events, tz_offset="+0000")
    if psd is not None:
        ds.ContentSequence.append(b.num("128531", psd, "Gy"))
    ds.StudyInstanceUID = study
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_reports_per_procedure_step_add_their_distinct_events(
        conn: sqlite3.Connection) -> None:
    study = generate_uid()
    # Step 1: two fluoroscopy events of 3.2 s (24 pulses at 7.5/s), totals its own.
    first = [b.event("20260115093000"), b.event("20260115093100")]
    # Step 2: one fluoroscopy event and one 2.5 s acquisition, more events: the totals row.
    second = [b.event("20260115100000"),
              _acquisition(b.event("20260115100100", b.num("113742", "2.5", "s")))]
    for events, fluoro in ((first, "6.4"), (second, "3.2")):
        n = len(events)
        assert store_bytes(conn, _file(study, events, f"{n}e-006", f"{0.00014 * n:.5f}",
                                       fluoro), "peer").status == "stored"
    found = study_totals(conn, [study, "1.2.3.unknown"])
    assert set(found) == {study}
    t = found[study]
    assert t.events == 4
    assert t.dap_gym2 == pytest.approx(4e-6)
    assert t.kar_gy == pytest.approx(0.00056)
    assert t.kar_per_plane == {"single": pytest.approx(0.00056)}
    assert t.fluoro_time_s == pytest.approx(9.6)
    assert t.acquisition_time_s == pytest.approx(2.5)
    assert t.time_s == pytest.approx(12.1)


def test_cumulative_reports_of_the_same_events_are_never_added(
        conn: sqlite3.Connection) -> None:
    study = generate_uid()
    uids = [generate_uid() for _ in range(2)]
    one = [b.event("20260115093000", uid=uids[0])]
    both = [b.event("20260115093000", uid=uids[0]), b.event("20260115093100", uid=uids[1])]
    # The vendor's totals count more than its listed events (a dose the events omit).
    store_bytes(conn, _file(study, one, "3e-006", "0.0004", "10", psd="0.3"), "peer")
    store_bytes(conn, _file(study, both, "5e-006", "0.0007", "20", psd="0.5"), "peer")
    t = study_totals(conn, {study})[study]
    assert t.events == 2
    assert t.dap_gym2 == pytest.approx(5e-6)
    assert t.kar_gy == pytest.approx(0.0007)
    assert t.fluoro_time_s == pytest.approx(20.0)
    assert t.acquisition_time_s is None
    assert t.peak_skin_dose_gy == pytest.approx(0.5)


def test_many_studies_in_a_bounded_number_of_queries(conn: sqlite3.Connection) -> None:
    studies = [generate_uid() for _ in range(3)]
    for study in studies:
        store_bytes(conn, _file(study, [b.event()], "1e-006", "0.00014", "3.2"), "peer")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    found = study_totals(conn, studies)
    conn.set_trace_callback(None)
    assert set(found) == set(studies)
    assert len(statements) == 2
