"""Messages marked for translation where they are written, outside the web layer.

``N_("A quarter is written like 2026-Q1.")`` returns its argument unchanged: the
message (English, a translatable template) travels in an exception or a label
and the page translates it in the reader's language (:mod:`hub.web.i18n`). The
web, the reports and the points all mark theirs with this one (so that
``hub/reports`` never imports the web layer).
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for translation where no request is at hand; translate it later.

    ``raise AccountError("password", N_("at least {n} characters"), n=10)``: the page
    shows ``translate(request, exc.message).format(**exc.params)``; the catalog test
    (tests/test_i18n.py) finds the literals marked so, as it finds those of ``_()``.
    """
    return message
