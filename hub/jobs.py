"""The hub's background jobs, run beside the web by the app's lifespan (hub/web/app.py).

Five jobs, each a loop of rounds, a round then a pause:

- ``reports``: prepares the drafts of the quarter just ended, with the probe
  points of new devices (:func:`hub.reports.preparation.prepare_due_reports`), at
  start then every ``[reports] prepare_every_min``;
- ``controls``: the control calendar's check
  (:func:`hub.controls.overdue.check_overdue`), which opens and ends the
  ``control_overdue`` events and the active reminders (``control_due_soon``),
  so that a PCR who never opens the calendar still hears of a control coming
  due; at start then every ``[controls] check_every_min``;
- ``rollups``: brings the dose-rate rollups (:mod:`hub.db.rollups`) up to date,
  a chunk of readings per transaction, pausing 30 ms after each 10 ms of work
  (:class:`~hub.db.connection.WritePace`: the ingest never waits long for the
  write lock) until complete, at start then every
  :data:`hub.db.rollups.REFRESH_INTERVAL_S` (60 s; pages read the raw readings of
  the last hour);
- ``reconcile``: matches each mapped room's emissions with the RDSRs' irradiation events
  over the last weeks (:func:`hub.rdsr.reconcile_store.reconcile_all`), at start then
  every ``[dicom] reconcile_every_min``, only when ``[dicom] enabled`` or RDSRs are
  stored;
- ``patients``: the HAS patient thresholds of every study stored
  (:func:`hub.rdsr.thresholds.check_all`: a study stored before its device was mapped
  or before ``[dicom.patient_thresholds]`` changed), then the retention
  (:func:`hub.rdsr.retention.purge`, ``[dicom] retention_days``), at start then every
  :data:`PATIENTS_EVERY_S`, only when RDSRs are stored.

So no GET and no SSE poll writes, and no router carries a lifespan of its own.
Each round works in a worker thread (``asyncio.to_thread``) on a connection of
its own, closed before the round ends. A round that fails is logged (a
structured error naming the job, with its traceback) and the next one runs as
planned: a locked or full store never ends a job. :func:`stop` cancels the
loops and waits for them, a round in its thread included, so no connection is
left open after the app's shutdown.

``voyant-hub run`` runs every job (the app is built with its ingest); an app
built without the ingest (tests) runs those named in ``app.state.jobs``, none
unless a test names some before the app starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeVar

from fastapi import FastAPI

from hub.config import HubConfig
from hub.controls import overdue
from hub.db import rollups
from hub.db.connection import WritePace, connect, write
from hub.logs import log
from hub.reports import preparation
from hub.web.deps import clock_of

T = TypeVar("T")

#: Pause between two chunks of one rollup refresh: the ingest takes the write lock there.
ROLLUP_STEP_PAUSE_S: Final = 0.05
#: Between two rounds of the patients job: a study mapped late gets its event, and a file
#: leaves, within a quarter of an hour.
PATIENTS_EVERY_S: Final = 900.0


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    #: One round; raises on failure (the loop logs it and goes on).
    round: Callable[[FastAPI], Awaitable[object]]
    #: Seconds between the end of a round and the start of the next.
    every_s: Callable[[HubConfig], float]
    #: The event logged when a round fails.
    failed: str


async def in_thread(work: Callable[[], T]) -> T:
    """``work()`` in a worker thread; if the caller is cancelled, wait for the thread to end
    first (its connection is closed in it), then let the cancellation through."""
    future = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise


# -- the rounds' work, each on its own connection (in a worker thread) --------------------------


def prepare_reports(store_path: str, config: HubConfig, now: datetime | None = None
                    ) -> list[int]:
    """The reports job's work: the drafts of the quarter just ended (their ids)."""
    conn = connect(store_path)
    try:
        return preparation.prepare_due_reports(
            conn, now or datetime.now(UTC), config.zoning, config.reports.high_coverage,
            scatter=config.reports.xray_scatter_calibrations)
    finally:
        conn.close()


def check_controls(store_path: str, config: HubConfig, now: datetime | None = None
                   ) -> dict[str, int]:
    """The controls job's work: overdue events and reminders opened and ended (counts)."""
    conn = connect(store_path)
    try:
        return overdue.check_overdue(conn, now or datetime.now(UTC), config.controls)
    finally:
        conn.close()


def reconcile_rooms(store_path: str, config: HubConfig, now: datetime | None = None
                    ) -> dict[str, int] | None:
    """The reconcile job's work (counts), None when there is nothing to reconcile with."""
    from hub.rdsr.reconcile_store import reconcile_all  # loads the imaging stack

    conn = connect(store_path)
    try:
        if not config.dicom.enabled and conn.execute(
                "SELECT 1 FROM rdsr_files LIMIT 1").fetchone() is None:
            return None
        dicom = config.dicom
        return reconcile_all(conn, now or datetime.now(UTC), dicom.reconcile_wait_h,
                             dicom.reconcile_tolerance_s, dicom.clock_tolerance_s,
                             group_max_s=dicom.reconcile_group_max_s)
    finally:
        conn.close()


def check_patients(store_path: str, config: HubConfig, now: datetime | None = None
                   ) -> dict[str, int] | None:
    """The patients job's work: threshold events raised or revised, files purged (counts);
    None when no RDSR is stored."""
    from hub.rdsr import retention, thresholds

    conn = connect(store_path)
    try:
        if conn.execute("SELECT 1 FROM rdsr_files LIMIT 1").fetchone() is None:
            return None
        at = now or datetime.now(UTC)
        with write(conn):
            changed = thresholds.check_all(conn, config.dicom.patient_thresholds, at)
        purged = retention.purge(conn, config.dicom.retention_days, at)
        return {"thresholds": changed, "files_purged": purged.files,
                "refused_purged": purged.refused}
    finally:
        conn.close()


def refresh_rollups_step(store_path: str) -> rollups.Refreshed:
    """One step of the rollups job: at most about a chunk of new readings."""
    conn = connect(store_path)
    try:
        return rollups.refresh(conn, limit=rollups.CHUNK, pace=WritePace())
    finally:
        conn.close()


# -- rounds ------------------------------------------------------------------------------------


async def reports_round(app: FastAPI) -> list[int]:
    now = clock_of(app)
    ids = await in_thread(lambda: prepare_reports(app.state.store_path, app.state.config, now))
    log("reports_prepared", logging.DEBUG, reports=len(ids))
    return ids


async def controls_round(app: FastAPI) -> dict[str, int]:
    now = clock_of(app)
    result = await in_thread(lambda: check_controls(app.state.store_path, app.state.config,
                                                    now))
    if result["opened"] or result["ended"]:
        log("controls_checked", opened=result["opened"], ended=result["ended"])
    return result


async def patients_round(app: FastAPI) -> dict[str, int] | None:
    now = clock_of(app)
    result = await in_thread(lambda: check_patients(app.state.store_path, app.state.config,
                                                    now))
    if result and (result["files_purged"] or result["refused_purged"]):
        log("rdsr_purged", files=result["files_purged"], refused=result["refused_purged"])
    return result


async def reconcile_round(app: FastAPI) -> dict[str, int] | None:
    now = clock_of(app)
    result = await in_thread(lambda: reconcile_rooms(app.state.store_path, app.state.config,
                                                     now))
    if result:
        log("rooms_reconciled", logging.DEBUG, rooms=result["rooms"],
            matched=result["matched"], unmatched=result["unmatched"],
            without_emission=result["without_emission"])
    return result


async def rollups_round(app: FastAPI) -> int:
    """Refresh until complete, a step at a time; the readings examined."""
    examined = 0
    while True:
        step = await in_thread(lambda: refresh_rollups_step(app.state.store_path))
        examined += step.examined
        if step.complete:
            break
        await asyncio.sleep(ROLLUP_STEP_PAUSE_S)
    log("rollups_refreshed", logging.DEBUG, readings=examined)
    return examined


JOBS: Final = (
    Job("reports", reports_round, lambda c: c.reports.prepare_every_min * 60.0,
        "reports_prepare_failed"),
    Job("controls", controls_round, lambda c: c.controls.check_every_min * 60.0,
        "controls_check_failed"),
    Job("rollups", rollups_round, lambda c: rollups.REFRESH_INTERVAL_S, "rollups_refresh_failed"),
    Job("reconcile", reconcile_round, lambda c: c.dicom.reconcile_every_min * 60.0,
        "reconcile_failed"),
    Job("patients", patients_round, lambda c: PATIENTS_EVERY_S, "patients_check_failed"),
)
BY_NAME: Final = {job.name: job for job in JOBS}
NAMES: Final = frozenset(BY_NAME)


# -- running -----------------------------------------------------------------------------------


async def run_round(job: Job, app: FastAPI) -> bool:
    """One round that never raises (but for a cancellation): a failure is logged, False."""
    try:
        await job.round(app)
    except Exception as exc:
        log(job.failed, logging.ERROR, exc_info=True, job=job.name, error=type(exc).__name__)
        return False
    return True


async def run(job: Job, app: FastAPI) -> None:
    """The job's loop: a round, then its pause, until cancelled."""
    while True:
        await run_round(job, app)
        await asyncio.sleep(job.every_s(app.state.config))


def start(app: FastAPI, jobs: tuple[Job, ...] = JOBS) -> None:
    """Start the jobs named in ``app.state.jobs`` (call from the app's lifespan)."""
    wanted = frozenset(getattr(app.state, "jobs", ()))
    unknown = wanted - {job.name for job in jobs}
    if unknown:
        raise ValueError(f"unknown jobs: {', '.join(sorted(unknown))}")
    app.state.job_tasks = {job.name: asyncio.create_task(run(job, app), name=f"job-{job.name}")
                           for job in jobs if job.name in wanted}


async def stop(app: FastAPI) -> None:
    """Cancel the running jobs and wait for them (a round in its thread included)."""
    tasks: dict[str, asyncio.Task[None]] = getattr(app.state, "job_tasks", {})
    app.state.job_tasks = {}
    for task in tasks.values():
        task.cancel()
    for task in tasks.values():
        with contextlib.suppress(asyncio.CancelledError):
            await task
