"""Screenshots of a quarterly report, the measurement points, the verification calendar
and the verification programme (run by hand).

    .venv/bin/python docs/screens/make_screens.py [OUT_DIR]

A hub on a temporary store (no MQTT) holds one quarter of readings written straight
into the store (tests/report_data.py): background, a day without data in February, and
3 mSv between 10:30 and 11:30 on 5 March during a pulsed emission, at a point declared
"zone surveillée"; its report is signed, then amended (the method in force). Debian's
Chromium (``/usr/bin/chromium``) driven by Playwright shows the amended report, the
points page, the calendar and the programme, in French and in English, at 800, 1366 and
1920 px wide (full pages, PNG). The files kept in this folder are some of them.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hub.config import parse_config  # noqa: E402
from hub.db.connection import connect, write  # noqa: E402
from hub.reports import points as pts  # noqa: E402
from hub.reports import preparation, quarters  # noqa: E402
from hub.reports import quarterly as qr  # noqa: E402
from hub.timefmt import iso  # noqa: E402
from hub.web.accounts import add_user  # noqa: E402
from hub.web.app import create_app  # noqa: E402
from hub.web.report_document import render_both  # noqa: E402
from tests.report_data import JOURNAL, SITE, device, fill, paris  # noqa: E402
from tests.web_helpers import serving  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WIDTHS = (800, 1366, 1920)
AFTER_Q1 = datetime(2026, 4, 2, 8, tzinfo=UTC)
PASSWORD = "screens-screens-screens"


def seed(store: Path) -> int:
    """The quarter, its report signed then amended; returns the amended report's id."""
    conn = connect(store)
    device(conn, "bloc-1-box", "bloc-1", paris(2025, 12, 1))
    device(conn, "bloc-2-box", "bloc-2", paris(2025, 12, 1))
    last = fill(conn, "bloc-1-box", paris(2026, 1, 1), paris(2026, 2, 10), 300, 0.1)
    last = fill(conn, "bloc-1-box", paris(2026, 2, 11), paris(2026, 3, 5, 10, 30), 300, 0.1,
                seq0=last + 1)
    last = fill(conn, "bloc-1-box", paris(2026, 3, 5, 10, 30), paris(2026, 3, 5, 11, 30), 300,
                3000.0, seq0=last + 1, peak=9000.0)
    fill(conn, "bloc-1-box", paris(2026, 3, 5, 11, 30), paris(2026, 4, 1), 300, 0.1,
         seq0=last + 1)
    with write(conn):
        conn.execute(
            'INSERT INTO exposures (device, site, room, journal, run, number, last_seq, event,'
            ' state, start, "end", duration_s, pulses) VALUES (?, ?, ?, ?, 1, 1, 1, ?, ?, ?,'
            ' ?, 60, 120)', ["bloc-1-box", SITE, "bloc-1", JOURNAL, "closed", "closed",
                             iso(paris(2026, 3, 5, 10, 40)), iso(paris(2026, 3, 5, 10, 41))])
        pts.ensure_probe_points(conn)
        first, second = pts.list_points(conn, kind="probe")
        point = pts.set_zoning(conn, first, {"permanent": "supervised"}, None)
        pts.set_zoning(conn, second, {"off": "non_regulated", "powered": "supervised",
                                      "emitting": "controlled_green"}, 15.0)
        pts.add_manual_point(conn, "bloc-1-box", "Pupitre", "pcr")
    add_user(conn, "pcr", PASSWORD, "pcr", "A. Martin")
    config = parse_config({"store": {"path": str(store)}})
    report = preparation.prepare(conn, point, quarters.parse_quarter("2026-Q1"), config.zoning,
                                 0.99, AFTER_Q1, "pcr")
    digest = qr.get_report(conn, report)["content_sha256"]
    with write(conn):
        qr.sign(conn, report, "A. Martin", "pcr", AFTER_Q1, render_both, digest)
    amended = preparation.amend(conn, report, config.zoning, 0.99, "pcr", AFTER_Q1)
    conn.close()
    return int(amended["report"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "hub.db"
        app = create_app(parse_config({"store": {"path": str(store)}}), ingest=False)
        app.state.clock = lambda: AFTER_Q1
        with serving(app) as base, sync_playwright() as p:
            report = seed(store)  # once the hub made its store
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            for lang in ("fr", "en"):
                for width in WIDTHS:
                    context = browser.new_context(viewport={"width": width, "height": 900})
                    context.add_cookies([{"name": "lang", "value": lang, "url": base}])
                    page = context.new_page()
                    page.goto(f"{base}/login")
                    page.fill("#username", "pcr")
                    page.fill("#password", PASSWORD)
                    page.press("#password", "Enter")
                    page.wait_for_load_state()
                    for name, path in (("report", f"/reports/{report}"),
                                       ("points", "/points"), ("calendar", "/calendar"),
                                       ("programme", "/calendar/programme")):
                        page.goto(base + path)
                        if name == "points":
                            page.locator("details.zoning").first.evaluate(
                                "d => d.open = true")
                        target = out / f"{name}-{lang}-{width}.png"
                        page.screenshot(path=str(target), full_page=True)
                        print(target)
                    context.close()
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/voyant-screens"))
