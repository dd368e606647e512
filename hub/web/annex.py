"""An event's timeline as the annex of an ESR declaration: its page, its document, its PDF.

The page (``/events/{id}/timeline``) and the PDF (``/events/{id}/timeline.pdf``)
show one body (``events/_annex_body.html``): who and what (establishment,
room, equipment), the alarm with its duration and dose, the dose-rate chart,
what happened (a pulse train on one line), the readings, the review and a
signature block. The PDF is a standalone document with no control in it.
Every time carries its UTC offset (the October hour repeats: 02:30 happens
twice), the zone said once; numbers are written in the reader's language.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Final

from babel.numbers import format_decimal
from fastapi import Request

from hub import timefmt
from hub.events import timeline as tl
from hub.messages import N_
from hub.web import annex_chart
from hub.web.i18n import gettext_for, language
from hub.web.report_document import render_pdf
from hub.web.templating import TEMPLATES
from hub.workdays import PARIS

#: The generator's kind as the verification calendar holds it (``control_rooms``).
DEVICE_KINDS: Final = {"fixed": N_("fixed"), "mobile": N_("mobile")}


def when(text: Any) -> str:
    """A stored UTC time as Paris wall time with its offset: ``2026-10-25 02:30:00 +02:00``
    (a text that names no instant as stored, see :func:`hub.timefmt.wall`)."""
    moment = timefmt.instant(text)
    shown = timefmt.wall(text, PARIS)
    if moment is None or shown.endswith(" UTC"):
        return shown
    offset = moment.astimezone(PARIS).strftime("%z")
    return f"{shown} {offset[:3]}:{offset[3:]}"


def number(lang: str) -> Callable[[Any, int], str]:
    """Figures to ``decimals`` places in ``lang`` (``0,16`` in French); past a billion (an
    older hub's 1e308) in exponent form rather than hundreds of digits."""
    def shown(value: Any, decimals: int) -> str:
        if not isinstance(value, int | float):
            return "–"
        if abs(value) >= 1e9 or value != value:
            return f"{value:.3g}"
        pattern = "#,##0." + "0" * decimals if decimals else "#,##0"
        return str(format_decimal(round(value, decimals), format=pattern, locale=lang,
                                  decimal_quantization=True))
    return shown


def duration(seconds: float, gettext: Callable[[str], str], lang: str) -> str:
    """``45 s``, ``2 min 05 s``, ``3 h 02 min``, ``2 d 4 h``: as a person says a duration."""
    whole = int(seconds)
    if seconds < 60:
        return f"{number(lang)(seconds, 0 if seconds >= 10 or seconds == whole else 1)} s"
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return gettext("{d} d {h} h").format(d=days, h=hours)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


def alarm(conn: sqlite3.Connection, event: dict[str, Any], gettext: Callable[[str], str],
          lang: str) -> dict[str, Any]:
    """The alarm at the top of the annex: detection, the end of its condition and how long
    it held (or ongoing), and the exposure it names with its dose."""
    detected = timefmt.instant(event.get("opened_at"))
    cleared = timefmt.instant(event.get("condition_cleared_at"))
    held = (cleared - detected).total_seconds() if detected and cleared else None
    return {"detected": event.get("opened_at"), "cleared": event.get("condition_cleared_at"),
            "duration": duration(held, gettext, lang) if held is not None and held >= 0
            else None,
            "exposure": tl.alarm_exposure(conn, event)}


def context(request: Request, conn: sqlite3.Connection, data: dict[str, Any],
            signer: str) -> dict[str, Any]:
    """What the annex body needs beyond the event page's helpers (added over them:
    ``local`` and ``num`` become the annex's, with offsets and the reader's numbers);
    ``signer``: the name printed in the signature block (empty: a line to write on)."""
    gettext, lang = gettext_for(request).gettext, language(request)
    config = request.app.state.config
    event = data["event"]
    return {
        "local": when, "num": number(lang),
        "span": lambda first, last: _span(first, last, gettext, lang),
        "establishment": config.web.establishment,
        "ident": tl.identification(conn, event),
        "device_kind_label": lambda k: gettext(DEVICE_KINDS[k]) if k in DEVICE_KINDS else "",
        "alarm": alarm(conn, event, gettext, lang),
        "chart": annex_chart.draw(data),
        "calibrations": sorted({str(r["calibration"]) for r in data["readings"]
                                if r.get("calibration")}),
        "signer": signer,
    }


def _span(first: Any, last: Any, gettext: Callable[[str], str], lang: str) -> str:
    a, b = timefmt.instant(first), timefmt.instant(last)
    return duration((b - a).total_seconds(), gettext, lang) if a and b and b >= a else "–"


def document_html(request: Request, ctx: dict[str, Any]) -> str:
    """The standalone annex (inline style and chart, no control): what the PDF prints."""
    translations = gettext_for(request)
    template = TEMPLATES.env.get_template("events/_annex_document.html")
    return template.render(_=translations.gettext, ngettext=translations.ngettext,
                           lang=language(request), **ctx)


def pdf(html: str) -> bytes:
    """The annex as PDF (WeasyPrint, as the quarterly reports)."""
    return render_pdf(html)
