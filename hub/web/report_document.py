"""The quarterly report as a document: HTML (one file, inline CSS and SVG chart) and PDF.

The signed HTML and PDF are rendered once, at signing, in French (the
language of the record an inspector reads), and kept as they are; the page
shows the same content in the reader's language. The chart draws each Paris
day's integrated dose as a bar and marks the hours without data as grey
bands: missing data is shown as missing, never as zero nor as interpolated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from hub.messages import N_
from hub.reports.points import THRESHOLD_LABELS, ZONES
from hub.timefmt import parse
from hub.web.i18n import translations
from hub.web.numfmt import fixed, number
from hub.web.templating import TEMPLATES
from hub.web.timeshow import paris as local

WIDTH: Final = 900
HEIGHT: Final = 240
LEFT, RIGHT, TOP, BOTTOM = 60, 10, 12, 36


@dataclass(slots=True)
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_w: int = WIDTH - LEFT - RIGHT
    plot_h: int = HEIGHT - TOP - BOTTOM
    bars: list[tuple[float, float, float, float]] = field(default_factory=list)
    missing: list[tuple[float, float]] = field(default_factory=list)  # (x, width)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    months: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = True


def chart(content: dict[str, Any]) -> Chart:
    """Daily dose bars (µSv, linear) and grey bands over the hours without data."""
    svg = Chart()
    start, end = parse(content["start"]), parse(content["end"])
    span = max(end - start, 1.0)

    def x(t: float) -> float:
        return round(svg.left + (t - start) / span * svg.plot_w, 2)

    days = content.get("days", [])
    top = max((d["dose_usv"] for d in days), default=0.0)
    top = top if top > 0 else 1.0
    t = start
    for day in days:
        t_end = t + day["expected_s"]
        if day["seconds"] > 0:
            h = day["dose_usv"] / top * svg.plot_h
            svg.bars.append((x(t), max(x(t_end) - x(t) - 0.5, 0.5),
                             round(svg.top + svg.plot_h - h, 2), round(h, 2)))
        t = t_end
    for gap in content.get("gaps", []):
        a, b = x(parse(gap["start"])), x(parse(gap["end"]))
        svg.missing.append((a, max(b - a, 0.8)))
    for i in range(3):
        value = top * i / 2
        svg.y_ticks.append((round(svg.top + svg.plot_h * (1 - i / 2), 2), f"{value:.3g}"))
    for month in content.get("months", []):
        svg.months.append((x(parse(month["start"])), month["month"]))
    svg.empty = not svg.bars
    return svg


def dose(usv: float | None, lang: str = "fr") -> str:
    """A dose in the reader's numbers (``0,16 µSv``, ``3,000 mSv``)."""
    if usv is None:
        return "—"
    if usv >= 1000:
        return f"{fixed(usv / 1000, lang, 3)} mSv"
    return f"{fixed(usv, lang, 2)} µSv"


def percent(ratio: float | None, lang: str = "fr") -> str:
    return "—" if ratio is None else f"{fixed(100 * ratio, lang, 1)} %"


def threshold_label(gettext: Callable[[str], str], key: str, value: float,
                    lang: str = "fr") -> str:
    """A zoning threshold in words with its unit (an unknown key, from a newer or older
    content, is shown as written rather than lost)."""
    text = number(value, lang, 6)
    label = THRESHOLD_LABELS.get(key)
    return gettext(label).format(value=text) if label else f"{key} = {text}"


#: The words of the zoning method (content schema 5, ``method`` 2): each code of the
#: content as the document says it. An unknown code (a newer content) is shown as written.
WORDS: Final = {
    # verdicts against the declared zone (art. 12 of the order of 23 October 2020)
    "consistent": N_("consistent"),
    "not_consistent": N_("not consistent"),
    "undetermined": N_("undetermined"),
    # why a verdict
    "above_declared": N_("above the declared zone"),
    "off_above_declared": N_("generator off: above the zone declared for that state"),
    "lower_bound_below_declared": N_("a lower bound below the declared zone"),
    "indicative_calibration": N_("calibration not meant for X-ray scatter"),
    "no_data": N_("no data"),
    "background_not_subtracted": N_("no background subtracted: an upper bound"),
    # why a zone is a lower bound
    "saturated": N_("the probe saturated"),
    "coverage": N_("incomplete coverage"),
    "hours_without_data": N_("hours without data"),
    "background_capped": N_("background above nature, subtracted only up to it"),
    # the criterion that set the zone
    "month": N_("monthly"),
    "hour": N_("hourly"),
    # generator states of a declared zone
    "permanent": N_("at all times"),
    "off": N_("generator off"),
    "powered": N_("generator powered"),
    "emitting": N_("during emission"),
}


def words(gettext: Callable[[str], str], codes: Any) -> str:
    """Codes of the content in words, comma separated (``—`` for none)."""
    if not codes:
        return "—"
    items = [codes] if isinstance(codes, str) else list(codes)
    return ", ".join(gettext(WORDS[c]) if c in WORDS else str(c) for c in items)


def window_span(gettext: Callable[[str], str], start: str | None, end: str | None) -> str:
    """A 60-minute window in Paris time: "2026-03-05, between 10:30 and 11:30" (seconds
    only when the readings do not start on a whole minute)."""
    if not start or not end:
        return "—"
    precise = not (start[17:19] == "00" and end[17:19] == "00")
    a, b = local(start, precise), local(end, precise)
    day_a, _, time_a = a.partition(" ")
    day_b, _, time_b = b.partition(" ")
    if day_a == day_b and time_a and time_b:
        return gettext("{day}, between {start} and {end}").format(day=day_a, start=time_a,
                                                                  end=time_b)
    return gettext("between {start} and {end}").format(start=a, end=b)


def rate(usv_h: float | None, lang: str = "fr") -> str:
    if usv_h is None:
        return "—"
    if usv_h >= 1000:
        return f"{number(usv_h / 1000, lang)} mSv/h"
    return f"{number(usv_h, lang)} µSv/h"


def helpers(gettext: Callable[[str], str], lang: str = "fr") -> dict[str, Any]:
    """The document's template functions, its numbers in ``lang`` (decimal comma in
    French, as the signed document is)."""
    labels = dict(ZONES)
    return {
        "local": local, "dose": lambda usv: dose(usv, lang),
        "percent": lambda ratio: percent(ratio, lang),
        "rate": lambda usv_h: rate(usv_h, lang),
        "number": lambda value, digits=3: number(value, lang, digits),
        "zone_label": lambda code: gettext(labels[code]) if code in labels else "—",
        "threshold_label": lambda key, value: threshold_label(gettext, key, value, lang),
        "words": lambda codes: words(gettext, codes),
        "window_span": lambda start, end: window_span(gettext, start, end),
        "chart": chart,
    }


def missing_hours(content: dict[str, Any]) -> int:
    """The hours of the quarter without any reading (0 when the content does not say)."""
    totals = content.get("totals")
    value = totals.get("hours_without_data") if isinstance(totals, dict) else None
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def render_html(content: dict[str, Any], lang: str = "fr") -> str:
    """The standalone document (what is frozen at signing and printed to PDF)."""
    gettext = translations(lang).gettext
    template = TEMPLATES.env.get_template("reports/document.html")
    return template.render(_=gettext, lang=lang, c=content, **helpers(gettext, lang))


def render_pdf(html: str) -> bytes:
    """The PDF of a document (WeasyPrint; imported here: it takes half a second)."""
    import weasyprint  # type: ignore[import-untyped]

    return bytes(weasyprint.HTML(string=html).write_pdf())


def render_both(content: dict[str, Any]) -> tuple[str, bytes]:
    html = render_html(content)
    return html, render_pdf(html)
