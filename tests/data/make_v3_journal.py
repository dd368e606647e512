"""Make ``journal_v3.db``: a journal written by the agent before typed records (schema 3).

Run against a checkout of that agent (commit 8d84035), never the present code:

    git archive 8d84035 | tar -x -C /tmp/v3
    cd /tmp/v3 && PYTHONPATH=. python /path/to/tests/data/make_v3_journal.py OUT.db

See README.md next to this file.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

from edge_agent.dose.tube import BUILTIN_TUBES, default_calibration
from edge_agent.journal import Journal
from edge_agent.monitor.readings import OneSecondMean, ReadingAccumulator
from edge_agent.monitor.records import AlarmRecord, ExposureRecord
from edge_agent.probe.sample import ProbeSample
from sim.runner import Simulation
from sim.scenario import load_scenario

WALL = 1_767_600_000.0  # 2026-01-05T08:00:00Z


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        # 1. The probe_fault scenario as that agent played it: readings with NaN rates.
        sim = Simulation(load_scenario(Path("sim/scenarios/probe_fault.toml")), Path(work),
                         journal_path=out)
        try:
            sim.run()
        finally:
            sim.close()
    # 2. The hub acknowledged the first three records.
    conn = sqlite3.connect(out)
    with conn:
        conn.execute("DELETE FROM outbox WHERE seq <= 3")
    conn.close()
    journal = Journal(out, durable=False)
    journal.start_run(WALL)
    # 3. A saturated reading, made by that agent's accumulator: an infinite sigma.
    cal = default_calibration(BUILTIN_TUBES["sbm20"])
    acc, one_s = ReadingAccumulator(cal, 10.0, 0.0, 0.1), OneSecondMean(cal)
    for k in range(100):
        sample = ProbeSample(end=0.1 * (k + 1), duration=0.1, counts=65_000)
        acc.add(sample, one_s.add(sample), 1.0)
    journal.reading(acc.emit(), lambda t: WALL + t)
    # 4. A reading interval with no probe data at all: NaN rates.
    journal.reading(acc.emit(), lambda t: WALL + t)
    # 5. The agent dies during an unrequested exposure, its alarm active.
    journal.exposure_opened(ExposureRecord(1, 21.0, False, 1), lambda t: WALL + t, "sbm20/Cs-137")
    journal.alarm_raised(AlarmRecord(1, "unsolicited_emission", None, 21.3, 21.0, "no request",
                                     exposure=1), lambda t: WALL + t)
    journal.alive(WALL + 25.0)
    journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.close()
    conn = sqlite3.connect(out)  # small pages, so that the file stays small; WAL as it was
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA page_size=1024")
    conn.execute("VACUUM")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
