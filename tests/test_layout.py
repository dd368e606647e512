"""Layout that holds (issue 16, item 4): every page, both languages, three widths.

Every GET route of the app's route table that answers a whole HTML page (so pages added
later too; its path parameters filled from the store, as tests/test_pages_survive.py
walks them) is opened by an admin (the widest header: every menu entry) over a realistic
store (tests/layout_store.py: long French room and door labels, open critical events,
exposures, reports, the calendar), in French and in English, at 800, 1366 and 1920 px,
in one Chromium (Debian's) and one page, the width set per measure. A page fails when:

- it scrolls sideways (``document.scrollingElement.scrollWidth > clientWidth``): a
  table may scroll in its own box, the page never;
- two elements with visible text, neither containing the other, intersect by more than
  1 px each way: the text's own line boxes (clipped by their ancestors' overflow, so a
  cell's ellipsis or a table scrolling in its box is what the reader sees), and a form
  control's whole box. Intended overlays are named in :data:`OVERLAYS`, each with why.

All failures are collected and reported in one assertion: page, language, width and the
two elements. The login page is measured too, before logging in.
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests import chromium
from tests.layout_store import ADMIN, build
from tests.test_pages_survive import _get_routes, _variants
from tests.web_helpers import PASSWORD, serving

LANGS = ("fr", "en")
WIDTHS = (800, 1366, 1920)
HEIGHT = 900
#: Pages that are not the hub's own layout: the API's Swagger UI (a vendored page).
NOT_OURS = ("/api/",)
#: Pages measured per route at most (a bigger store is sampled, evenly).
RECORDS = 20
#: CSS selectors whose text may lie over another's, each with the reason it is intended.
OVERLAYS: dict[str, str] = {}
#: A folder to keep a full-page screenshot of every page measured in (unset: none taken).
SHOTS = os.environ.get("VOYANT_LAYOUT_SHOTS", "")
#: The most failure lines the assertion message carries (the count says how many more).
SHOWN = 80

#: In the page: its sideways scroll, and the pairs of text boxes that intersect.
MEASURE = r"""
(overlays) => {
  const se = document.scrollingElement;
  const CONTROLS = new Set(["INPUT", "SELECT", "TEXTAREA", "BUTTON"]);
  const excepted = (el) => overlays.some((s) => el.closest(s));
  const clips = new Map();
  function clipOf(el) {  // the box an element's content is visible in (ancestors' overflow)
    if (!el || el === document.documentElement || el === document.body) return null;
    if (clips.has(el)) return clips.get(el);
    let clip = clipOf(el.parentElement);
    const cs = getComputedStyle(el);
    if (cs.overflowX !== "visible" || cs.overflowY !== "visible") {
      const r = el.getBoundingClientRect();
      const own = {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
      clip = clip ? {left: Math.max(clip.left, own.left), top: Math.max(clip.top, own.top),
                     right: Math.min(clip.right, own.right),
                     bottom: Math.min(clip.bottom, own.bottom)} : own;
    }
    clips.set(el, clip);
    return clip;
  }
  function clipped(rect, clip) {
    const r = {left: rect.left, top: rect.top, right: rect.right, bottom: rect.bottom};
    if (clip) {
      r.left = Math.max(r.left, clip.left); r.top = Math.max(r.top, clip.top);
      r.right = Math.min(r.right, clip.right); r.bottom = Math.min(r.bottom, clip.bottom);
    }
    return r.right - r.left > 1 && r.bottom - r.top > 1 ? r : null;
  }
  // Rendered: no display none, no closed <details> (content-visibility), not invisible.
  const shown = (el) => el.checkVisibility({contentVisibilityAuto: true, opacityProperty: true,
                                            visibilityProperty: true});
  function name(el) {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    const cls = el.getAttribute("class");
    if (cls) s += "." + cls.trim().split(/\s+/).join(".");
    const tid = el.closest("[data-testid]");
    if (tid) s += ` in [data-testid=${tid.getAttribute("data-testid")}]`;
    const text = (el.innerText || el.textContent || el.value || "").trim().replace(/\s+/g, " ");
    return `${s} "${text.slice(0, 40)}"`;
  }
  const boxes = [];
  const all = document.body.querySelectorAll("*");
  for (const el of all) {
    if (el.closest("head, script, style, template, option") || excepted(el)) continue;
    const rects = [];
    if (CONTROLS.has(el.tagName)) {
      if (el.type === "hidden") continue;
      rects.push(el.getBoundingClientRect());
    } else if (!el.closest("button, select, textarea")) {
      for (const node of el.childNodes) {
        if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        rects.push(...range.getClientRects());
      }
    }
    if (!rects.length || !shown(el)) continue;
    const clip = clipOf(el);
    for (const rect of rects) {
      const r = clipped(rect, clip);
      if (r) boxes.push({el, r});
    }
  }
  boxes.sort((a, b) => a.r.top - b.r.top);
  const seen = new Set();
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) {
    const a = boxes[i];
    for (let j = i + 1; j < boxes.length && boxes[j].r.top < a.r.bottom - 1; j++) {
      const b = boxes[j];
      if (a.el === b.el || a.el.contains(b.el) || b.el.contains(a.el)) continue;
      const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
      const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
      if (w <= 1 || h <= 1) continue;
      const key = name(a.el) + " | " + name(b.el);
      if (seen.has(key)) continue;
      seen.add(key);
      overlaps.push([`${name(a.el)} and ${name(b.el)} intersect`,
                     `${Math.round(w)}×${Math.round(h)} px`]);
    }
  }
  return {scrollWidth: se.scrollWidth, clientWidth: se.clientWidth, overlaps};
}
"""
#: The header's menu switch (templates/base.html) set and unset: whether there is one.
UNFOLD = ("() => { const s = document.getElementById('menu-switch');"
          " if (s) s.checked = true; return !!s; }")
FOLD = "() => { const s = document.getElementById('menu-switch'); if (s) s.checked = false; }"
#: No htmx request in flight (fragments loaded on the page's load are in).
SETTLED = "() => !document.querySelector('.htmx-request')"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    app = build(tmp_path_factory.mktemp("layout"))
    with serving(app) as base:
        yield app, base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium.launched() as browser:
        yield browser


def page_paths(app: FastAPI, base: str, context: Any) -> list[str]:
    """Every GET route that answers a whole page (but the API's), its path parameters
    filled from the store: at most :data:`RECORDS` of them, spread over what is stored."""
    out = []
    for route in _get_routes(app):
        paths = [path for path, expect in _variants(app, route) if expect == "ok"]
        if route.path.startswith(NOT_OURS) or not paths or not is_page(base + paths[0], context):
            continue
        step = max(1, -(-len(paths) // RECORDS))
        out += paths[::step]
    return list(dict.fromkeys(out))


def measure(page: Any, where: str, failures: dict[str, list[str]]) -> None:
    """The page as loaded, at each width: its sideways scroll and its overlapping texts
    (``failures``: what was found on a page in a language, and at which widths)."""
    lang = page.evaluate("document.documentElement.lang")
    for width, menu in [(w, False) for w in WIDTHS] + [(WIDTHS[0], True)]:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        # Last, the narrowest again with the header's folded menu unfolded (if it has one).
        if menu and not page.evaluate(UNFOLD):
            continue
        found = page.evaluate(MEASURE, list(OVERLAYS))
        page.evaluate(FOLD)
        label = f"{width} px" + (", menu open" if menu else "")
        if found["scrollWidth"] > found["clientWidth"]:
            failures.setdefault(f"{where} [{lang}]: scrolls sideways", []).append(
                f"{label}: {found['scrollWidth']} px wide")
        for overlap, size in found["overlaps"]:
            failures.setdefault(f"{where} [{lang}]: {overlap}", []).append(
                f"{label}: {size}")
        if SHOTS and not menu:
            slug = re.sub(r"[^a-z0-9]+", "-", where.lower()).strip("-") or "overview"
            page.screenshot(path=str(Path(SHOTS) / f"{slug}-{lang}-{width}.png"),
                            full_page=True)


def is_page(url: str, context: Any) -> bool:
    """A whole HTML page (not a fragment that htmx swaps in, a file or a redirect away),
    asked with the browser's cookies on a connection of its own."""
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies(url))
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=20) as response:
            kind = response.headers.get("content-type", "")
            return bool(response.status == 200 and kind.startswith("text/html")
                        and b"<body" in response.read())
    except urllib.error.HTTPError:
        return False


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_every_page_holds_its_layout_in_both_languages_at_three_widths(
        site: tuple[FastAPI, str], browser: Any) -> None:
    app, base = site
    started = time.monotonic()
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": HEIGHT},
                                  timezone_id="Europe/Paris")
    context.set_default_timeout(20_000)
    page = context.new_page()
    failures: dict[str, list[str]] = {}
    pages: list[str] | None = None
    measured = 0
    try:
        for lang in LANGS:
            context.clear_cookies()
            context.add_cookies([{"name": "lang", "value": lang, "url": base}])
            page.goto(f"{base}/login")
            measure(page, "/login", failures)
            page.fill("#username", ADMIN)
            page.fill("#password", PASSWORD)
            with page.expect_navigation():
                page.press("#password", "Enter")
            if pages is None:  # asked once, logged in
                pages = [p for p in page_paths(app, base, context) if p != "/login"]
            for path in pages:
                page.goto(base + path)
                page.wait_for_function(SETTLED)
                measure(page, path, failures)
                measured += 1
    finally:
        context.close()
    assert measured >= 20, f"only {measured} pages measured: the walk lost its pages"
    elapsed = time.monotonic() - started
    lines = [f"{what} (at {', '.join(where)})" for what, where in failures.items()]
    assert not lines, (f"{len(lines)} layout failures over {measured} page loads"
                       f" ({elapsed:.0f} s):\n" + "\n".join(lines[:SHOWN])
                       + (f"\n... and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""))
