"""The demo in a real browser: Playwright driving Debian's Chromium against ``voyant-sim demo``.

The whole stack runs as in ``make demo``: ``python -m sim.cli demo`` in its
own process, in a temporary folder on free ports (the embedded broker, the
hub with its web page, three rooms playing in real time). The PCR logs in,
sees the three rooms come alive on the overview, injects an unsolicited
emission into a room through the demo's control (as ``voyant-sim demo
--inject`` does), sees the event appear in the inbox without reloading,
acknowledges it, qualifies it as an ESR (its declaration due date shown) and
opens its timeline. Last, Ctrl-C (SIGINT) stops the demo: rooms, then hub,
exit 0.

Every wait is Playwright's own wait for a selector or a state, bounded by a
timeout; no fixed sleep. On a failure a full-page screenshot and the page's
HTML are kept (their paths are printed), with the demo's and the hub's logs.
Chromium is Debian's (``/usr/bin/chromium``; ``make test`` installs the
``chromium`` package): Playwright's own browser download does not work here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

from sim.broker import free_port
from sim.demo_control import post_inject
from sim.demo_files import PCR_PASSWORD, PCR_USERNAME, ROOMS, SITE
from tests import chromium

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 40.0
#: Playwright's timeout for one wait (ms): rooms connect and events arrive in a few seconds.
WAIT_MS = 20_000
DEADLINE = re.compile(r"(Monday|Tuesday|Wednesday|Thursday|Friday) \d{1,2} [A-Z][a-z]+ \d{4}")
TARGET = ROOMS[-1]  # bloc-3: its scenario starts with a quiet minute of set-up


@dataclass
class RunningDemo:
    process: subprocess.Popen[bytes]
    directory: Path
    log: Path
    url: str
    control: str
    hub_pid: int

    def logs(self) -> str:
        demo = self.log.read_text(errors="replace")
        hub = (self.directory / "hub.log")
        hub_text = hub.read_text(errors="replace") if hub.exists() else ""
        return f"--- demo ---\n{demo}\n--- hub (last 60 lines) ---\n" + "\n".join(
            hub_text.splitlines()[-60:])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    base = tmp_path_factory.mktemp("demo")
    directory, log = base / "stack", base / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "demo", "--dir", str(directory),
             "--port", str(free_port()), "--no-history"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    control_file = directory / "control.json"
    deadline = time.monotonic() + START_TIMEOUT_S
    info: dict[str, object] = {}
    try:
        while not info:
            if process.poll() is not None:
                raise AssertionError(f"the demo exited ({process.returncode}):\n"
                                     + log.read_text(errors="replace"))
            if time.monotonic() > deadline:
                raise AssertionError("the demo did not start in time:\n"
                                     + log.read_text(errors="replace"))
            with contextlib.suppress(OSError, ValueError):
                info = json.loads(control_file.read_text())
            time.sleep(0.05)  # poll interval, bounded by the deadline
        running = RunningDemo(process, directory, log, str(info["url"]), str(info["control"]),
                              int(str(info["hub_pid"])))
        yield running
    finally:
        clean = True
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                clean = process.wait(30) == 0
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                clean = False
        hub_pid = info.get("hub_pid")
        if not clean and isinstance(hub_pid, int):  # never leave the hub behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(hub_pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium.launched() as browser:
        yield browser


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("VOYANT_ARTIFACTS", "")) if os.environ.get(
        "VOYANT_ARTIFACTS") else tmp_path_factory.mktemp("browser-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def kept_on_failure(page: object, demo: RunningDemo, artifacts: Path, name: str
                    ) -> Iterator[None]:
    """Run the block; on any failure keep a screenshot, the HTML and the logs, and say where."""
    try:
        yield
    except BaseException:
        shot, html = artifacts / f"{name}.png", artifacts / f"{name}.html"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)  # type: ignore[attr-defined]
            html.write_text(page.content(), encoding="utf-8")  # type: ignore[attr-defined]
        (artifacts / f"{name}.log").write_text(demo.logs(), encoding="utf-8")
        print(f"\nbrowser test failed: screenshot {shot}, page {html}, logs "
              f"{artifacts / (name + '.log')}", file=sys.stderr)
        raise


def test_a_pcr_follows_an_unsolicited_emission_from_the_live_rooms_to_its_timeline(
    demo: RunningDemo, browser: object, artifacts: Path,
) -> None:
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Paris")  # type: ignore[attr-defined]
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    expect = playwright_api.expect
    # expect() has its own 5 s default, which the context's timeout does not change: a
    # loaded machine (the whole suite on 2 cores) can take longer for a first live state.
    expect.set_options(timeout=WAIT_MS)
    try:
        with kept_on_failure(page, demo, artifacts, "pcr-journey"):
            # Log in as the demo PCR.
            page.goto(f"{demo.url}/login")
            page.fill("#username", PCR_USERNAME)
            page.fill("#password", PCR_PASSWORD)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url(f"{demo.url}/")

            # The three rooms, online and live, on the overview (no reload: SSE).
            for room in ROOMS:
                card = page.locator(f"[data-testid=room-card][data-device='{SITE}.{room.room}']")
                expect(card.locator("[data-testid=room-online].ok")).to_be_visible()
                expect(card.locator("[data-testid=room-no-live]")).to_have_count(0)
            expect(page.locator("[data-testid=room-card]")).to_have_count(len(ROOMS))

            # The inbox is open when the room emits on its own; the event comes in live.
            page.goto(f"{demo.url}/events")
            expect(page.locator("[data-testid=events-inbox]")).to_be_visible()
            row = page.locator("[data-testid=event-row][data-kind=unsolicited_emission]")
            expect(row).to_have_count(0)
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            post_inject(demo.control, TARGET.room, "unsolicited", 3.0)
            expect(row).to_have_count(1)
            assert navigations == [], f"the page reloaded: {navigations}"
            expect(row).to_have_attribute("data-state", "open")
            expect(row).to_contain_text(TARGET.room)

            # Acknowledge it, with a comment.
            row.locator("[data-testid=event-link]").click()
            expect(page.locator("[data-testid=event-kind]")).to_have_attribute(
                "data-kind", "unsolicited_emission")
            page.fill("[data-testid=acknowledge-comment]",
                      "C-arm emitted with nobody at the pedal; biomedical engineering called.")
            page.click("[data-testid=acknowledge-submit]")
            expect(page.locator("[data-testid=form-acknowledge]")).to_have_count(0)
            expect(page.locator("[data-testid=event-note][data-action=acknowledge]")
                   ).to_have_count(1)

            # Qualify it as an ESR: the declaration's due date appears.
            page.fill("[data-testid=qualify-esr-comment]",
                      "Unsolicited emission: exposure of staff possible, ESR criterion 1.")
            page.select_option("[data-testid=qualify-esr-criterion]", "6")
            page.click("[data-testid=qualify-esr-submit]")
            expect(page.locator("[data-testid=form-qualify-esr]")).to_have_count(0)
            due = page.locator("[data-testid=event-detail] [data-testid=declaration-due]")
            expect(due).to_have_text(DEADLINE)  # a working day, with its weekday
            expect(page.locator("[data-testid=form-declare]")).to_be_visible()

            # Its timeline, the annex of a declaration.
            page.click("[data-testid=timeline-link]")
            expect(page.locator("[data-testid=timeline]")).to_be_visible()
            expect(page.locator("[data-testid=timeline-entry]").first).to_be_visible()
    finally:
        context.close()


def test_ctrl_c_stops_the_rooms_then_the_hub(demo: RunningDemo) -> None:
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(30) == 0, demo.logs()
    text = demo.log.read_text(errors="replace")
    assert "Stopping the rooms, then the hub..." in text and "Demo stopped." in text
    hub_log = (demo.directory / "hub.log").read_text(errors="replace")
    assert "event=hub_stopped" in hub_log and "event=broker_embedded_stopped" in hub_log
    with pytest.raises(ProcessLookupError):
        os.kill(demo.hub_pid, 0)

