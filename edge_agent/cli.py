"""``voyant-edge``: the room agent's command line.

    voyant-edge run --config /etc/voyant/agent.toml
    voyant-edge check-config /etc/voyant/agent.toml
    voyant-edge journal [--config FILE | --db FILE] [--limit N] [--json]
    voyant-edge journal [--config FILE | --db FILE] --verify-against EXPORT
    voyant-edge selftest [--config FILE] [--json] [--timeout S] [--agent-user NAME]

Run the self-test as the service's user with the service stopped
(``sudo -u voyant voyant-edge selftest --config /etc/voyant/agent.toml``): it
then reads GPIO, serial port and journal with the agent's own rights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_agent.clock import iso_utc
from edge_agent.config import load_config
from edge_agent.errors import JournalError
from edge_agent.journal import Journal
from edge_agent.logs import setup_logging
from wire.errors import ConfigError

DEFAULT_CONFIG = "/etc/voyant/agent.toml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voyant-edge", description="Voyant room agent")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the agent (the systemd service's command)")
    run.add_argument("--config", default=DEFAULT_CONFIG)
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    journal = sub.add_parser(
        "journal", help="show recent exposures, alarms and input changes, or check the hub's"
                        " export against the journal")
    journal.add_argument("--config", default=DEFAULT_CONFIG)
    journal.add_argument("--db", help="journal file (default: the config's [journal] path)")
    journal.add_argument("--limit", type=int, default=20)
    journal.add_argument("--json", action="store_true")
    journal.add_argument("--verify-against", metavar="EXPORT",
                         help="the hub's export (voyant-hub journal export): compare it with"
                              " the journal record by record; exit 1 on any difference")
    selftest = sub.add_parser(
        "selftest", help="check inputs, lamps, probe, journal, broker and clock (commissioning)")
    selftest.add_argument("--config", default=DEFAULT_CONFIG)
    selftest.add_argument("--json", action="store_true")
    selftest.add_argument("--timeout", type=float, default=10.0,
                          help="seconds to wait for the probe and the broker (default 10)")
    selftest.add_argument("--agent-user", metavar="NAME",
                          help="the service's User=, who must be able to write the journal"
                               " (default voyant)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-config":
            config = load_config(args.config)
            if config.mqtt is not None:
                config.mqtt.read_password()  # a missing password file shows now, not at 3 a.m.
            mqtt = "no [mqtt]" if config.mqtt is None else (
                f"mqtt {config.mqtt.host}:{config.mqtt.port}")
            print(f"{args.config}: ok (device {config.device.device_id},"
                  f" {len(config.pins.door)} door(s), probe {config.probe.kind}, {mqtt})")
            return 0
        if args.command == "selftest":
            from edge_agent.selftest import render_table, run_selftest
            from edge_agent.selftest_journal import AGENT_USER

            report = run_selftest(load_config(args.config), timeout_s=max(args.timeout, 0.1),
                                  agent_user=args.agent_user or AGENT_USER)
            if args.json:
                json.dump(report.to_json(), sys.stdout, indent=2)
                sys.stdout.write("\n")
            else:
                print(render_table(report))
            return 1 if report.verdict == "FAIL" else 0
        if args.command == "journal":
            path = args.db or load_config(args.config).journal.path
            if args.verify_against is not None:
                return _verify(path, args.verify_against)
            return _show_journal(path, args.limit, args.json)
        setup_logging(args.log_level)
        # Only what the run needs is imported: the loop and, through it, the agent.
        from edge_agent.dose.thresholds import cache_in
        from edge_agent.runner import run

        config = load_config(args.config)
        cache_in(Path(config.journal.path).parent)  # thresholds computed at start, kept
        run(config)
        return 0
    except (ConfigError, JournalError) as exc:
        print(f"voyant-edge: {exc}", file=sys.stderr)
        return 2


def _verify(path: str, export: str) -> int:
    """The hub's export against the journal (its module is imported for this command only)."""
    from edge_agent.verify_export import ExportUnreadable, render, verify_against

    try:
        box, verdict, others = verify_against(path, export)
    except ExportUnreadable as exc:
        print(f"voyant-edge: {exc}", file=sys.stderr)
        return 2
    print(render(box, verdict, others))
    return 0 if verdict.ok else 1


def _show_journal(path: str, limit: int, as_json: bool) -> int:
    if not Path(path).is_file():  # a look must not create a journal (nor a new journal id)
        raise JournalError(f"{path}: no journal there (the agent creates it when it first"
                           " starts; run this as the agent's user: sudo -u voyant ...)")
    journal = Journal(path, durable=False)
    try:
        exposures, alarms = journal.exposures(limit), journal.alarms(limit)
        changes, head = journal.changes(limit), journal.chain_head()
        outbox = journal.outbox_state()
    finally:
        journal.close()
    oldest = outbox["oldest"]
    if oldest is not None:
        oldest["age_s"] = None if oldest["queued"] is None else max(
            time.time() - oldest["queued"], 0.0)
    if as_json:
        json.dump({"exposures": exposures, "alarms": alarms, "changes": changes,
                   "chain_head": None if head is None else {"seq": head[0], "hash": head[1]},
                   "outbox": outbox}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"Journal {outbox['journal_id']}: {outbox['waiting']} record(s) waiting for the hub's"
          f" acknowledgement (last sequence number {outbox['last_seq']})")
    print(_oldest_line(oldest))
    print("Chain head: none yet (no record since the upgrade)" if head is None else
          f"Chain head: seq {head[0]} {head[1]}")
    print()
    print(f"Last {len(exposures)} exposures")
    print(f"  {'start (UTC)':<28} {'dur_s':>8} {'req':>4} {'max µSv/h':>10} {'state':<12}"
          " calibration / doors")
    for e in exposures:
        print(f"  {e['start']:<28} {_f(e['duration_s']):>8} {'yes' if e['requested'] else 'NO':>4}"
              f" {_f(e['max_dose_rate_usv_h']):>10} {e['state']:<12}"
              f" {e['calibration'] or '-'} / {','.join(json.loads(e['doors_open']))}")
    print(f"\nLast {len(alarms)} alarms")
    print(f"  {'raised (UTC)':<28} {'cleared (UTC)':<28} {'state':<12} kind (subject)")
    for a in alarms:
        subject = f" ({a['subject']})" if a["subject"] else ""
        print(f"  {a['at']:<28} {a['cleared'] or '-':<28} {a['state']:<12} {a['kind']}{subject}")
    print(f"\nLast {len(changes)} input changes (a run of a pulse train: one line)")
    print(f"  {'first (UTC)':<28} {'last (UTC)':<28} {'count':>6} {'value':<6} signal (origin, by)")
    for c in changes:
        extra = ", ".join(x for x in (c["origin"] if c["origin"] != "edge" else "", c["by"])
                          if x)
        value = "on" if c["value"] else "off"
        print(f"  {c['first']:<28} {c['last']:<28} {c['count']:>6} {value:<6} {c['signal']}"
              f"{f' ({extra})' if extra else ''}")
    return 0


def _oldest_line(oldest: dict[str, Any] | None) -> str:
    """The oldest record waiting, and how long it has waited (unknown for rows queued by an
    agent older than the ``queued`` column)."""
    if oldest is None:
        return "Nothing waits: the hub has acknowledged every record."
    head = f"Oldest waiting: seq {oldest['seq']} ({oldest['kind']})"
    if oldest["age_s"] is None:
        return f"{head}, age unknown (queued by an older agent)"
    return f"{head}, made {iso_utc(oldest['queued'])}, {_age(oldest['age_s'])} ago"


def _age(seconds: float) -> str:
    minutes, hours = int(seconds // 60), int(seconds // 3600)
    if hours >= 48:
        return f"{hours // 24} d {hours % 24} h"
    if hours:
        return f"{hours} h {minutes % 60} min"
    return f"{minutes} min {int(seconds) % 60} s" if minutes else f"{seconds:.0f} s"


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
