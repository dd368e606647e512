"""Measurement points and the quarterly ambient reports, made from the store (never from
the web layer, which only shows them).

- :mod:`hub.reports.points`: points, thresholds, zones;
- :mod:`hub.reports.quarters`: the Paris calendar quarters;
- :mod:`hub.reports.figures`: a report's figures, computed from the rollups;
- :mod:`hub.reports.quarterly`: reports at rest: listed, read, measured, signed, corrected;
- :mod:`hub.reports.preparation`: drafts made or recomputed (the job and POST actions).
"""
