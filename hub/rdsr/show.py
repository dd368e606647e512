"""``voyant-hub rdsr show FILE [--json]``: what an RDSR says, as read.

``--json`` prints the fixed form the issue's spec sets (every key always there,
``null`` for what the file does not give); without it, a summary a biomedical engineer reads
at a glance: the device, the start, the totals in the units the HAS thresholds use
(Gy·cm², mGy, minutes and seconds), one line per irradiation event. A file that is
not an RDSR exits 2 with the reason on one line of stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Any

from hub.errors import RdsrError
from hub.rdsr.model import PLANE_FIGURES, IrradiationEvent, Rdsr
from hub.rdsr.reader import read

#: 1 Gy·m² is 10,000 Gy·cm², the unit the HAS threshold (500 Gy·cm²) is said in.
GYCM2_PER_GYM2 = 10_000


def _time(moment: datetime | None) -> str | None:
    """ISO 8601 with the offset, to the millisecond when the file gives a fraction."""
    if moment is None:
        return None
    if moment.microsecond == 0:
        return moment.isoformat(timespec="seconds")
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.isoformat(timespec=spec)


def _event(event: IrradiationEvent) -> dict[str, Any]:
    out = asdict(event)
    out["start"] = _time(event.start)
    out["operators"] = [{"name": o.name, "role": o.role, "person_id": o.person_id}
                        for o in event.operators]
    return out


def as_json(report: Rdsr) -> dict[str, Any]:
    """The fixed output of ``rdsr show --json`` (``notes`` and ``missing_in_events``
    are extra keys, which the spec allows)."""
    totals = {name: getattr(report.totals, name) for name in PLANE_FIGURES}
    totals["peak_skin_dose_gy"] = report.totals.peak_skin_dose_gy
    totals["per_plane"] = {plane: asdict(figures)
                           for plane, figures in report.totals.per_plane.items()}
    return {
        "sop_instance_uid": report.sop_instance_uid,
        "sop_class": report.sop_class,
        "study_instance_uid": report.study_instance_uid,
        "scope": report.scope,
        "device": asdict(report.device),
        "start": _time(report.start),
        "timezone_assumed": report.timezone_assumed,
        "planes": list(report.planes),
        "totals": totals,
        "events": [_event(e) for e in report.events],
        "missing": list(report.missing),
        "missing_in_events": dict(report.missing_in_events),
        "notes": list(report.notes),
    }


def _kerma(value_gy: float | None) -> str:
    """Air kerma in mGy: a fluoroscopy's figures read 2.52 mGy rather than 0.00252 Gy."""
    return "–" if value_gy is None else f"{value_gy * 1000:.4g} mGy"


def _dap(value_gym2: float | None) -> str:
    return "–" if value_gym2 is None else f"{value_gym2 * GYCM2_PER_GYM2:.4g} Gy·cm²"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _event_line(n: int, event: IrradiationEvent) -> str:
    start = event.start.strftime("%H:%M:%S") if event.start else "--:--:--"
    pulses = (f"{event.pulses} pulses @ {event.pulse_rate_hz:g}/s"
              if event.pulses is not None and event.pulse_rate_hz else
              f"{event.pulses} pulses" if event.pulses is not None else "")
    people = ", ".join(o.name for o in event.operators)
    parts = [f"{n:>3}. {start}", (event.type or "?").replace("_", " "),
             f"plane {event.plane or '?'}", f"duration {_duration(event.duration_s)}",
             f"X-ray on {_duration(event.xray_on_s)}", pulses,
             f"DAP {_dap(event.dap_gym2)}", f"Ka,r {_kerma(event.kar_gy)}",
             f"{event.kvp:.3g} kV" if event.kvp is not None else "",
             f"{event.ma:.3g} mA" if event.ma is not None else "",
             f"[{event.protocol}]" if event.protocol else "",
             f"operators: {people}" if people else ""]
    return " | ".join(p for p in parts if p)


def as_text(report: Rdsr) -> str:
    """The summary: one fact a line, units said, the zone said once."""
    d, t = report.device, report.totals
    zone = " (no UTC offset in the file: Europe/Paris assumed)" if report.timezone_assumed \
        else ""
    lines = [
        f"Device:  {d.manufacturer or '?'} {d.model or '?'}, serial {d.serial or '?'}, "
        f"observer {d.observer_name or '?'}",
        f"Start:   {_time(report.start) or '?'}{zone}",
        f"Scope:   {(report.scope or '?').replace('_', ' ')}; study {report.study_instance_uid}",
        f"Planes:  {', '.join(report.planes) or '?'}",
        f"Totals:  DAP {_dap(t.dap_gym2)} | Ka,r {_kerma(t.kar_gy)} | "
        f"fluoroscopy {_duration(t.fluoro_time_s)}, DAP {_dap(t.fluoro_dap_gym2)} | "
        f"acquisition {_duration(t.acquisition_time_s)}, DAP {_dap(t.acquisition_dap_gym2)}"
        f" | peak skin dose {_kerma(t.peak_skin_dose_gy)}",
    ]
    if len(t.per_plane) > 1:
        lines += [f"  plane {p}: DAP {_dap(f.dap_gym2)} | Ka,r {_kerma(f.kar_gy)} | "
                  f"fluoroscopy {_duration(f.fluoro_time_s)}" for p, f in t.per_plane.items()]
    lines.append(f"Events:  {len(report.events)}")
    lines += [_event_line(n, e) for n, e in enumerate(report.events, 1)]
    if report.missing:
        lines.append("Missing: " + ", ".join(report.missing))
    lines += [f"Note:    {note}" for note in report.notes]
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    """Add ``rdsr show`` to the hub's command line."""
    rdsr = subparsers.add_parser("rdsr", help="DICOM radiation dose reports (RDSR)")
    actions = rdsr.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="print what an RDSR file says, as read")
    show.add_argument("file")
    show.add_argument("--json", action="store_true", help="the fixed JSON form")


def rdsr_main(argv: list[str]) -> int:
    """``voyant-hub rdsr ...`` parsed on its own, as the hub's CLI does for ``device``
    and ``journal``: pydicom is loaded only when an RDSR command runs."""
    parser = argparse.ArgumentParser(prog="voyant-hub")
    register(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["rdsr", *argv]))


def run(args: argparse.Namespace) -> int:
    """0 with the report on stdout; 2 with one line on stderr when not an RDSR."""
    try:
        report = read(args.file)
    except RdsrError as exc:
        name, reason = (" ".join(str(t).split()) for t in (args.file, exc))  # one line
        print(f"{name}: not an RDSR: {reason}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(report), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print(as_text(report))
    return 0
