"""API: the rooms (JSON, documented at /api/docs; the viewer role).

``/api/rooms``, ``/api/rooms/{device}`` (with its chain badge),
``/api/rooms/{device}/readings?range=``, ``/api/rooms/{device}/exposures``,
``/api/rooms/{device}/changes``: the data of the pages of :mod:`hub.web.pages.rooms`.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AfterValidator, Field

from hub.chain.status import ChainStatus, device_status
from hub.web import changes, rooms
from hub.web.changes import ChangeList
from hub.web.deps import Db, Viewer
from hub.web.params import Page
from hub.web.rooms import Choice, ExposureFilters, ExposurePage, Range, Readings, Room

router = APIRouter()


def room_or_404(db: sqlite3.Connection, device: str) -> Room:
    room = rooms.get_room(db, device)
    if room is None:
        raise HTTPException(status_code=404, detail=f"no room with the device {device!r}")
    return room


@router.get("/api/rooms", response_model=list[Room], tags=["rooms"])
def api_rooms(user: Viewer, db: Db) -> list[Room]:
    """Every room: presence, live state (inputs, doors, lamps, alarms), dose rate with its
    calibration, and the count of open events."""
    return rooms.list_rooms(db)


class RoomDetail(Room):
    chain: ChainStatus = Field(description="the hash chain of its journals: intact, gap or"
                               " broken, and where (the room page's badge)")


@router.get("/api/rooms/{device}", response_model=RoomDetail, tags=["rooms"],
            responses={404: {"description": "no such device"}})
def api_room(device: str, user: Viewer, db: Db) -> RoomDetail:
    """One room, as in ``/api/rooms``, with the state of its hash chain."""
    room = room_or_404(db, device)
    return RoomDetail(**room.model_dump(), chain=device_status(db, device))


@router.get("/api/rooms/{device}/changes", response_model=ChangeList, tags=["rooms"],
            responses={404: {"description": "no such device"}})
def api_changes(device: str, user: Viewer, db: Db,
                limit: Annotated[int, Query(ge=1, le=1000)] = changes.SHOWN) -> ChangeList:
    """The room's latest journaled input changes, newest first (a run of changes of one
    input is one record: count, first and last edge); all of them: ``changes.csv``."""
    room_or_404(db, device)
    return changes.latest(db, device, limit)


@router.get("/api/rooms/{device}/readings", response_model=Readings, tags=["rooms"],
            responses={404: {"description": "no such device"}})
def api_readings(
    device: str, user: Viewer, db: Db,
    range_: Annotated[Range, Query(alias="range", description="24h, 7d or quarter")] = "24h",
    end: Annotated[datetime | None, Query(
        description=f"end of the range (default: now), {rooms.END_MIN.date()} to"
                    f" {rooms.END_MAX.date()}"), AfterValidator(rooms.chart_end)] = None,
) -> Readings:
    """The dose-rate chart's points (mean and max of each step), from the rollups."""
    room_or_404(db, device)
    return rooms.readings(db, device, range_, end)


@router.get("/api/rooms/{device}/exposures", response_model=ExposurePage, tags=["rooms"],
            responses={404: {"description": "no such device"}})
def api_exposures(
    device: str, user: Viewer, db: Db,
    date_from: Annotated[date | None, Query(alias="from", description="first day (UTC)")]
    = None,
    date_to: Annotated[date | None, Query(alias="to", description="last day (UTC), included")]
    = None,
    requested: Annotated[Choice, Query(description="requested by the operator")] = "any",
    alarm: Annotated[Choice, Query(description="with at least one alarm")] = "any",
    page: Page = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = rooms.PER_PAGE,
) -> ExposurePage:
    """A room's exposures, newest first, filtered and paginated."""
    room_or_404(db, device)
    if date_from is not None and date_to is not None and date_to < date_from:
        raise HTTPException(status_code=422, detail=[{
            "loc": ["query", "to"], "type": "value_error",
            "msg": "the end date is before the start date", "input": str(date_to)}])
    filters = ExposureFilters(date_from=date_from, date_to=date_to, requested=requested,
                              alarm=alarm)
    return rooms.exposures(db, device, filters, page, per_page)
