"""Screenshots of the demo as a PCR sees it after a season of use (run by hand).

    .venv/bin/python docs/screens/demo_screens.py OUT_DIR [DEMO_DIR]

Starts ``voyant-sim demo`` (its generated history, then the live rooms), injects an
unsolicited emission into the last room, signs in as the demo's admin and takes every
page a PCR works on (the rooms, a room with its chart, the inbox, the declared ESR, its
timeline, a quarterly report, the calendar, the audit log, the display names, the API
page with every other host blocked) in French and in English at 800, 1366 and 1920 px
(full pages, PNG, named ``page-lang-width.png``). A DEMO_DIR kept from a previous run
reuses its history. The files kept in this folder are some of the French ones.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
WIDTHS = (800, 1366, 1920)
START_TIMEOUT_S = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(directory: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The demo running, and its URL (from its control file), within the deadline."""
    (directory / "control.json").unlink(missing_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "demo", "--dir", str(directory),
             "--port", str(free_port())], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the demo stopped: see {log}")
        try:
            return process, str(json.loads((directory / "control.json").read_text())["url"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the demo did not start within {START_TIMEOUT_S:.0f} s: see {log}")


def sign_in(page: Page, url: str, username: str = "admin",
            password: str = "voyant-gestion") -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


def targets(page: Page, url: str) -> dict[str, str]:
    """Which page shows what: the room of the injected alarm, the newest event, the
    declared ESR and its timeline, the first report."""
    page.goto(url + "/")
    rooms = re.findall(r'href="(/rooms/[^"/?]+)"', page.content())
    alarmed = next((r for r in rooms if r.endswith("bloc-3")), rooms[0] if rooms else "/")
    page.goto(url + "/events?state=all")
    inbox = page.content()
    events = re.findall(r'href="(/events/\d+)"', inbox)
    newest = events[0] if events else "/events"
    declared = next((m.group(1) for m in re.finditer(
        r'href="(/events/\d+)"(?:(?!href="/events/\d+").)*?class="badge alarm">ESR<', inbox,
        re.S)), newest)
    page.goto(url + "/reports")
    reports = re.findall(r'href="(/reports/\d+)"', page.content())
    return {
        "overview": "/", "room": alarmed,
        "events": "/events", "event": newest, "esr": declared,
        "timeline": declared + "/timeline",
        "reports": "/reports", "report": reports[0] if reports else "/reports",
        "calendar": "/calendar", "programme": "/calendar/programme", "audit": "/audit",
        "names": "/admin/names", "api-docs": "/api/docs",
    }


def shoot(out: Path, url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        context = browser.new_context()
        host = url.split("//", 1)[1].split("/", 1)[0]
        context.route(re.compile(r"^https?://(?!" + re.escape(host) + r")"),
                      lambda route: route.abort())  # offline: no other host answers
        page = context.new_page()
        sign_in(page, url)
        pages = targets(page, url)
        for lang in ("fr", "en"):
            context.add_cookies([{"name": "lang", "value": lang, "url": url}])
            for name, path in pages.items():
                for width in WIDTHS:
                    page.set_viewport_size({"width": width, "height": 900})
                    page.goto(url + path)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(out / f"{name}-{lang}-{width}.png"), full_page=True)
        pcr = browser.new_context()
        pcr.add_cookies([{"name": "lang", "value": "fr", "url": url}])
        page = pcr.new_page()
        page.set_viewport_size({"width": 1366, "height": 900})
        sign_in(page, url, "pcr", "voyant-demo")  # the CRP's own header
        page.screenshot(path=str(out / "overview-pcr-fr-1366.png"), full_page=True)
        browser.close()


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="screens-"))
    out.mkdir(parents=True, exist_ok=True)
    directory = Path(sys.argv[2]) if len(sys.argv) > 2 else out / "demo"
    started = time.monotonic()
    process, url = start(directory, out / "demo.log")
    print(f"demo up at {url} after {time.monotonic() - started:.1f} s", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "sim.cli", "demo", "--dir", str(directory),
                        "--inject", "unsolicited"], cwd=ROOT, check=True)
        time.sleep(8)  # a screenshot script, not a test: let the live rooms tell the hub
        shoot(out, url)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
    print(f"screens in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
