"""Page fragment: a room's dose-rate chart, ``GET /rooms/{device}/chart`` (HTML, viewer role).

The room page (:mod:`hub.web.pages.rooms`) includes the same fragment; this
route serves it alone, for the range links (``range`` = 1h | 24h | 7d |
quarter, ``end``: :mod:`hub.web.chart_view`) and for the live last hour, which
fetches it again every :data:`hub.web.chart_view.LIVE_S` seconds. A bad field
is named in the fragment and answered 422.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hub.web import chart_view
from hub.web.api.rooms import room_or_404
from hub.web.deps import Db, Viewer
from hub.web.templating import render

router = APIRouter()


@router.get("/rooms/{device}/chart", response_class=HTMLResponse, include_in_schema=False)
def room_chart(request: Request, device: str, user: Viewer, db: Db) -> Response:
    room = room_or_404(db, device)
    view = chart_view.build(request, db, room.device)
    return render(request, "rooms/_chart.html", {"room": room, "chart": view},
                  422 if view.errors else 200)
