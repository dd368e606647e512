"""The ingest's periodic watch over each journal: silent devices, overdue gaps, stalled
acknowledgements, and the jumps an admin accepted.

Run by :meth:`hub.ingest.core.IngestCore.tick` in its transaction; writes go through the
core's store (like :class:`hub.ingest.presence.Presence`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hub.ingest.registry import DeviceState
from hub.ingest.sequences import Gap, JournalSeqs
from hub.logs import log
from wire.kinds import severity

if TYPE_CHECKING:
    from hub.ingest.core import IngestCore


class Watch:
    """What the tick checks, journal by journal."""

    def __init__(self, core: IngestCore) -> None:
        self.core = core

    def checks(self, now: float, at: str) -> None:
        for dev in self.core.registry.silent(now, self.core.settings.offline_grace):
            self.core.presence.open_offline(dev, at, "silent", now - dev.last_heard)
        for (device, journal), seqs in self.core.seqs.items():
            for gap in seqs.overdue(now, self.core.settings.gap_timeout_s):
                self._open_gap(device, journal, gap, at)
            self._check_stall(device, journal, seqs, now, at)
        self._apply_jumps(at)

    def _apply_jumps(self, at: str) -> None:
        """An admin accepted that a journal goes on from ``oldest`` (``voyant-hub journal
        accept-jump``): applied here, by the one writer of the sequence state."""
        for jump_id, device, journal, oldest, by, reason in self.core.store.pending_jumps():
            dev = self.core.registry.devices.get(device)
            seqs = self.core.seqs.get((device, journal))
            if dev is None or seqs is None:
                continue  # applied once the journal is heard of
            self.core.intake.declare(dev, journal, seqs, oldest, at,
                                {"accepted_by": by, "reason": reason})
            self.core.store.jump_applied(jump_id, at)
            log("jump_accepted", logging.WARNING, device=device, journal=journal,
                oldest=oldest, by=by, upto=seqs.upto)

    def _check_stall(
        self, device: str, journal: str, seqs: JournalSeqs, now: float, at: str
    ) -> None:
        """``ack_stalled``: an online device sends, and its acknowledgement does not move."""
        if seqs.stall_event is not None and seqs.waiting_since is None:
            self.core.store.clear_condition(seqs.stall_event, at)
            seqs.stall_event = None
            log("ack_moving", device=device, journal=journal, upto=seqs.upto)
            return
        dev = self.core.registry.devices.get(device)
        if seqs.stall_event is not None or dev is None or not dev.online:
            return
        if not seqs.stalled(now, self.core.settings.ack_stall_s):
            return
        assert seqs.waiting_since is not None
        detail = {"journal": journal, "upto": seqs.upto,
                  "stalled_s": round(now - seqs.waiting_since, 1)}
        seqs.stall_event = self.core.store.open_event(
            "ack_stalled", device, dev.site, dev.room, journal, at, detail, severity("ack_stalled"))
        self.core.counters["acks_stalled"] += 1
        log("ack_stalled", logging.WARNING, device=device, journal=journal, upto=seqs.upto)

    def _open_gap(self, device: str, journal: str, gap: Gap, at: str) -> None:
        dev = self.core.registry.devices.get(device)
        site, room = (dev.site, dev.room) if dev else ("", "")
        detail = {"journal": journal, "first": gap.first, "last": gap.last,
                  "missing": gap.missing}
        gap.event_id = self.core.store.open_event(
            "data_gap", device, site, room, f"{journal}:{gap.first}", at, detail,
            severity("data_gap"),
        )
        self.core.counters["data_gaps_opened"] += 1
        log("data_gap", logging.WARNING, device=device, journal=journal, first=gap.first,
            last=gap.last, missing=gap.missing)

    def gap_filled(self, dev: DeviceState, journal: str, gap: Gap, at: str) -> None:
        if gap.event_id is None:
            return
        self.core.store.clear_condition(gap.event_id, at)
        log("data_gap_filled", device=dev.device, journal=journal, first=gap.first,
            last=gap.last)
