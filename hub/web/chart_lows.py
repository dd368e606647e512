"""Each chart step's quietest minute: the room's background, which a step's mean hides.

A room at work emits a few minutes an hour: a 5-minute step (the 24 h chart)
or an hour (7 days) holding 20 s of fluoroscopy at 300 µSv/h has a mean of
tens of µSv/h, and a chart of means never comes down to the 0.1 µSv/h of
background. The lowest mean of a minute within the step does: most minutes
hold no emission. A minute rather than a single reading: a 10 s reading at
background counts two or three pulses of the tube, and the lowest of thirty
of them says 0 or 0.03 µSv/h, a background that is not there.

Minutes come from ``rollup_minute`` and, for the span it does not count yet,
from the raw readings by the same expressions (:mod:`hub.db.rollup_series`'s
cut; a minute read both ways has the same mean, and a minimum does not mind
seeing it twice). A read only.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from hub.db import rollup_series
from hub.db.rollups import COUNTED, minute_key
from wire.records import MAX_DOSE_RATE_USV_H

#: A step of a minute or less is its own quietest minute: no line of its own.
MINUTE: Final = 60

#: One range scan of the primary key per step, in index order: a quarter's 736 steps
#: read its 132,000 minute rows in about 30 ms, where grouping them by a computed step
#: took several times that.
_ROLLUP: Final = """
WITH RECURSIVE steps(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM steps WHERE k + 1 < :count)
SELECT k, (SELECT min(sum_mean / n) FROM rollup_minute WHERE device = :device AND n > 0
           AND bucket >= strftime('%Y-%m-%dT%H:%M', :start + k * :step, 'unixepoch')
           AND bucket < min(strftime('%Y-%m-%dT%H:%M', :start + (k + 1) * :step, 'unixepoch'),
                            :cut))
FROM steps
"""
_RAW: Final = f"""
SELECT (CAST(strftime('%s', minute || ':00') AS INTEGER) - ?) / ? AS k, min(mean) FROM (
  SELECT substr(start, 1, 16) AS minute, avg(min(mean_usv_h, {MAX_DOSE_RATE_USV_H!r})) AS mean
  FROM readings WHERE device = ? AND start >= ? AND start < ? AND {COUNTED}
  AND mean_usv_h IS NOT NULL GROUP BY minute)
GROUP BY k
"""


def lowest_minutes(conn: sqlite3.Connection, device: str, start_s: int, end_s: int,
                   step_s: int) -> dict[int, float]:
    """The lowest minute mean (µSv/h) of each step of ``[start_s, end_s)``, by the step's
    index from ``start_s``; a step without a minute has none (missing stays missing)."""
    if step_s <= MINUTE:
        return {}
    cut_s = end_s - rollup_series.RAW_S
    pending = rollup_series.pending_since(conn, device)
    if pending is not None and pending < cut_s:
        cut_s = max(int(pending) // MINUTE * MINUTE, end_s - rollup_series.RAW_MAX_S)
    cut_s = max(cut_s, start_s)
    out: dict[int, float] = {}
    count = -(-(cut_s - start_s) // step_s)
    rows = [*(conn.execute(_ROLLUP, {"count": count, "device": device, "start": start_s,
                                     "step": step_s, "cut": minute_key(cut_s)})
              if count > 0 else ()),
            *conn.execute(_RAW, [start_s, step_s, device, minute_key(cut_s),
                                 minute_key(end_s - 1) + ";"])]  # ";" sorts after "59"
    for k, value in rows:
        if k is not None and value is not None and int(k) >= 0:
            key = int(k)
            out[key] = min(float(value), out.get(key, float(value)))
    return out
