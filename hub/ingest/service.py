"""The ingest service: aiomqtt in, one writer thread for SQLite, acks out after commit.

Three tasks on the event loop and one thread:

* the listener: aiomqtt 2's documented reconnect loop around one ``Client``
  with a persistent session (``clean_session=False``, fixed identifier), so
  the broker queues for the hub while it is away; it only enqueues;
* the writer: takes up to ``batch_max`` messages (``batch_max_bytes``) or waits
  ``batch_wait_ms`` (:mod:`hub.ingest.inbox`: alarms first, in a batch of their own, at
  once, even before a batch of readings already taken), and
  runs :meth:`IngestCore.handle_batch` in the store thread (one transaction
  per batch), then hands the acks to the sender, and after a batch that held
  an alarm calls :attr:`Ingest.on_alarm` (the live stream wakes at once rather
  than at its next poll: issue 18, an alarm on the PCR's screen within 0.5 s);
* the sender: publishes the latest ack of each (device, journal), retained
  QoS 1, keeping the unsent ones for the next connection;
* the ticker: every second, gap and silence checks in the store thread.

The store thread is a one-worker executor: the sqlite connection is created
in it and never used elsewhere; parsing and SQL do not block the loop that
keeps the MQTT connection alive. A worker process decodes the last messages of each
large batch (``[ingest] decode_workers``) while the writer stores the batches before, and
a thread of the hub its first messages while the writer waits for the disk at the commit
of the batch before (:mod:`hub.ingest.decoder`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiomqtt

from hub.config import HubConfig
from hub.db.store import Store
from hub.errors import StoreError, StoreReplaced
from hub.ingest.core import AckOut, IngestCore
from hub.ingest.decoder import DecodePool, Share
from hub.ingest.inbox import Inbox, Item, is_alarm
from hub.ingest.rooms_directory import ProvisionedRooms
from hub.ingest.stale_files import set_aside_stale_wal
from hub.logs import log
from wire.contract import ACK, HUB_SUBSCRIPTION, QOS
from wire.errors import ConfigError

T = TypeVar("T")
#: Batches taken and handed to the decode worker before their turn to be stored, at most
#: (the second only from a backlog: :meth:`Inbox.take_ready`).
TAKEN_AHEAD = 2
#: QoS 1 acks the hub may have in flight at once (paho's default, 20, let the acks of a
#: thousand rooms queue behind PUBACK round trips: p50 ~0.5 s in bench/ingest.py --mode latency).
ACK_INFLIGHT = 10_000


class Ingest:
    """Run with ``await Ingest(config).run()``; stop with :meth:`stop` (drains, then returns)."""

    def __init__(
        self, config: HubConfig, clock: Callable[[], float] = time.time, tick_s: float = 1.0
    ) -> None:
        self.config = config
        self.clock = clock
        self.tick_s = tick_s
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._inbox = Inbox()
        self._unsent: dict[tuple[str, str], AckOut] = {}
        self._ack_ready = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._connected = False
        self._latency_s: deque[float] = deque(maxlen=20_000)
        self._core_stats: dict[str, int] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._core: IngestCore | None = None
        #: The share of the batch stored next (set by the writer task, read by the store
        #: thread as it commits: one reference, swapped whole).
        self._next_share: Share | None = None
        self._decoder = DecodePool(config.ingest.decode_workers,
                                   config.ingest.decode_min_messages, models=True)
        self.rooms = load_rooms(config)
        #: Called on the loop after a committed batch that held an alarm message.
        self.on_alarm: Callable[[], None] | None = None

    # -- public ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Open the store, connect, ingest until :meth:`stop`; then drain and close."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-store")
        try:
            await self._in_store(self._open_core)
            # What the hub has imported and built to start stays: each full collection went
            # through it all, about 45 ms holding the interpreter lock every few seconds at
            # full load (bench/ingest.py). Frozen, collections skip it, until the end.
            gc.collect()
            gc.freeze()
            self._client = self._make_client()
            await self._serve()
        finally:
            if self._core is not None:
                await self._in_store(self._core.store.close)
            self._executor.shutdown(wait=True)
            self._decoder.close()
            gc.unfreeze()
            log("ingest_stopped")

    def stop(self) -> None:
        """Ask :meth:`run` to finish (safe from a signal handler on the loop)."""
        self._stop.set()

    def reload_rooms(self) -> None:
        """Read the devices file again (SIGHUP): rooms added, revoked or moved take effect for
        the next message; a file with a mistake is logged and the rooms known so far stay."""
        try:
            rooms = load_rooms(self.config)
        except ConfigError as exc:
            log("devices_reload_failed", logging.ERROR, error=str(exc))
            return
        self.rooms = rooms
        if self._core is not None:
            self._core.set_rooms(rooms)  # read by the store thread: one reference swapped
        log("devices_reloaded", rooms=len(rooms), file=rooms.source)

    def stats(self) -> dict[str, Any]:
        """Counters of the last committed batch, queue depth, publish-to-stored latency."""
        latencies = sorted(self._latency_s)
        out: dict[str, Any] = dict(self._core_stats)
        out["queued"] = self._inbox.qsize()
        out["connected"] = self._connected
        out["unsent_acks"] = len(self._unsent)
        if latencies:
            out["latency_p50_ms"] = 1000 * latencies[len(latencies) // 2]
            out["latency_p99_ms"] = 1000 * latencies[min(len(latencies) - 1,
                                                          int(len(latencies) * 0.99))]
        return out

    # -- set-up ------------------------------------------------------------------------------

    async def _in_store(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _open_core(self) -> None:
        store = Store.open(self.config.store.path)
        store.before_commit = self._prefetch
        self._core = IngestCore(store, self.config.ingest, self.clock(), self.rooms)
        self._core_stats = self._core.stats()
        log("store_open", path=self.config.store.path, devices=self._core_stats["devices"],
            journals=self._core_stats["journals"])

    def _prefetch(self) -> None:
        """In the store thread, as it commits: the next batch's first messages decoded
        while it waits for the disk (:meth:`hub.ingest.decoder.Share.prefetch`)."""
        share = self._next_share
        if share is not None:
            try:
                share.prefetch()
            except Exception:  # never the batch's commit
                log("decode_prefetch_failed", logging.ERROR, exc_info=True)

    def _make_client(self) -> aiomqtt.Client:
        mqtt = self.config.mqtt
        tls = None
        if mqtt.tls is not None:
            tls = aiomqtt.TLSParameters(
                ca_certs=mqtt.tls.ca_file, certfile=mqtt.tls.cert_file, keyfile=mqtt.tls.key_file
            )
        client = aiomqtt.Client(
            mqtt.host, mqtt.port, username=mqtt.username, password=mqtt.read_password(),
            identifier=mqtt.client_id, clean_session=False, keepalive=mqtt.keepalive_s,
            tls_params=tls, max_inflight_messages=ACK_INFLIGHT,
        )
        client.pending_calls_threshold = 100_000  # one ack per room per batch is expected
        return client

    async def _serve(self) -> None:
        writer = asyncio.create_task(self._write(), name="hub-writer")
        helpers = [
            asyncio.create_task(self._listen(), name="hub-listener"),
            asyncio.create_task(self._send_acks(), name="hub-acks"),
            asyncio.create_task(self._tick(), name="hub-ticker"),
        ]
        stop = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait([stop, writer, *helpers],
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stop}:
                log("task_ended", logging.ERROR, task=task.get_name(),
                    error=repr(task.exception()) if not task.cancelled() else "cancelled")
        finally:
            stop.cancel()
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self._inbox.stop()
            await asyncio.gather(writer, return_exceptions=True)

    # -- listener ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        """aiomqtt's reconnect loop: one client, re-entered after every failure."""
        mqtt, client = self.config.mqtt, self._client
        assert client is not None
        backoff = mqtt.reconnect_min_s
        while True:
            try:
                async with client:
                    await client.subscribe(HUB_SUBSCRIPTION, qos=1)
                    self._connected, backoff = True, mqtt.reconnect_min_s
                    log("mqtt_connected", host=mqtt.host, port=mqtt.port,
                        client_id=mqtt.client_id, username=mqtt.username or "")
                    self.ready.set()
                    self._ack_ready.set()
                    async for message in client.messages:
                        self._inbox.put(message.topic.value, _bytes(message.payload),
                                        time.monotonic())
            except aiomqtt.MqttError as exc:
                self._connected = False
                log("mqtt_disconnected", logging.WARNING, error=str(exc), retry_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, mqtt.reconnect_max_s)

    # -- writer ------------------------------------------------------------------------------

    async def _write(self) -> None:
        """Batch, hand a large batch's last messages to the decode worker at once
        (:mod:`hub.ingest.decoder`), store in the store thread, then queue the acks: until
        the stop marker. While a batch is stored the next one is taken, and when a backlog
        waits the one after it too (:data:`TAKEN_AHEAD`: the worker then never runs out of
        work while the writer stores). Batches are stored one at a time, in order, except
        that alarms arriving meanwhile go before the next one (:meth:`_after`)."""
        settings = self.config.ingest
        storing: asyncio.Task[None] | None = None
        taken: deque[tuple[list[Item], Share | None]] = deque()
        more = True
        try:
            while more or taken:
                batch: list[Item] = []
                if more and not taken:  # nothing to store next: wait for messages
                    batch, more = await self._inbox.next_batch(
                        settings.batch_max, settings.batch_wait_ms / 1000, settings.batch_max_bytes)
                elif more and len(taken) < TAKEN_AHEAD:  # a whole batch waiting, or nothing
                    batch = self._inbox.take_ready(settings.batch_max, settings.batch_max_bytes)
                if batch:
                    taken.append((batch, self._decoder.submit([(t, p) for t, p, _ in batch])))
                    self._next_share = taken[0][1]
                    if more and len(taken) < TAKEN_AHEAD:
                        continue  # one more if a backlog waits, before storing
                if taken:
                    await self._after(storing)
                    storing = asyncio.create_task(self._store_batch(*taken.popleft()))
                    self._next_share = taken[0][1] if taken else None
        finally:
            if storing is not None:
                await storing

    async def _after(self, storing: asyncio.Task[None] | None) -> None:
        """Wait for the batch being stored; then store first the alarms that arrived while
        the next batch was taken and decoded: an alarm waits for one batch's commit at most."""
        if storing is not None:
            await storing
        while self._inbox.alarms_waiting():
            alarms, _ = await self._inbox.next_batch(self.config.ingest.batch_max, 0.0)
            await self._store_batch(alarms)

    async def _store_batch(self, batch: list[Item], share: Share | None = None) -> None:
        if self._core is None and not await self._in_store(self._try_open):
            log("batch_lost", logging.ERROR, messages=len(batch), error="no store open")
            await asyncio.sleep(1.0)  # nothing acked: the agents will send these again
            return
        pairs = [(topic, payload) for topic, payload, _ in batch]
        try:
            acks = await self._in_store(self._handle_in_thread, pairs, self.clock(), share)
        except StoreReplaced as exc:
            await self._reopen(exc)
            return
        except StoreError as exc:  # nothing acked: the agents will send these again
            log("batch_lost", logging.ERROR, messages=len(batch), error=str(exc))
            await asyncio.sleep(1.0)
            return
        finally:
            if share is not None:
                self._decoder.settle(share)
        stored = time.monotonic()
        self._latency_s.extend(stored - received for _, _, received in batch)
        self._offer_acks(acks)
        if self.on_alarm is not None and any(is_alarm(topic) for topic, _, _ in batch):
            try:
                self.on_alarm()
            except Exception:  # the live stream's trouble must never stop the ingest
                log("on_alarm_failed", logging.ERROR, exc_info=True)

    def _handle_in_thread(self, pairs: list[tuple[str, bytes]], now: float,
                          share: Share | None) -> list[AckOut]:
        assert self._core is not None
        acks = self._core.handle_batch(pairs, now, share)
        self._core_stats = self._core.stats()
        return acks

    async def _reopen(self, exc: StoreReplaced) -> None:
        """The store file is not the one opened: acknowledge nothing from it, open the file
        at the path again (the agents resend what they hold; the rest is declared lost).
        While that fails, no store is open: nothing is stored or acknowledged, and every
        batch and tick tries again."""
        log("store_replaced", logging.ERROR, error=str(exc), path=self.config.store.path)
        self._unsent.clear()
        await self._in_store(self._swap_core)

    def _swap_core(self) -> None:
        """Close the old connection *first*: SQLite finds the ``-wal`` and ``-shm`` by name,
        so a new store opened beside a live connection to a deleted file would share them."""
        old, self._core = self._core, None
        if old is not None:
            try:
                old.store.close()
            except Exception:  # the old connection may be beyond use: the new one matters
                log("store_close_failed", logging.WARNING, exc_info=True)
        try:
            set_aside_stale_wal(self.config.store.path)
        except OSError as exc:  # then the open below refuses, and is tried again
            log("store_stale_file_kept", logging.ERROR, error=str(exc))
        self._try_open()

    def _try_open(self) -> bool:
        try:
            self._open_core()
        except StoreError as exc:
            log("store_reopen_failed", logging.ERROR, error=str(exc))
            return False
        return True

    # -- acks and ticks ----------------------------------------------------------------------

    def _offer_acks(self, acks: list[AckOut]) -> None:
        for ack in acks:
            self._unsent[(ack.device, ack.journal)] = ack
        if acks:
            self._ack_ready.set()

    async def _send_acks(self) -> None:
        """Publish the latest ack of each journal; keep what could not be sent."""
        while True:
            await self._ack_ready.wait()
            self._ack_ready.clear()
            if not self._connected or not self._unsent or self._client is None:
                continue
            sending, self._unsent = self._unsent, {}
            results = await asyncio.gather(
                *(self._client.publish(a.topic, a.payload, qos=QOS[ACK], retain=True)
                  for a in sending.values()),
                return_exceptions=True,
            )
            failed = [(key, ack, result) for (key, ack), result
                      in zip(sending.items(), results, strict=True)
                      if isinstance(result, BaseException)]
            for key, ack, _ in failed:  # a newer ack offered meanwhile wins
                self._unsent.setdefault(key, ack)
            if failed:
                log("acks_unsent", logging.WARNING, count=len(failed), error=repr(failed[0][2]))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            if self._core is None and not await self._in_store(self._try_open):
                continue
            assert self._core is not None
            try:
                acks = await self._in_store(self._core.tick, self.clock())
            except StoreReplaced as exc:
                await self._reopen(exc)
                continue
            except StoreError as exc:
                log("tick_failed", logging.ERROR, error=str(exc))
                continue
            self._offer_acks(acks)


def load_rooms(config: HubConfig) -> ProvisionedRooms:
    """The hub's registry of rooms: the devices file, in every broker mode."""
    path = config.broker.devices
    if path is None:
        raise ConfigError(
            "broker.devices: required: the devices file (the TOML of voyant-hub broker-config "
            "and voyant-hub device add) is the hub's registry of rooms: a message is taken "
            "only from the device provisioned for its room's topics")
    return ProvisionedRooms.from_file(path)


def _bytes(payload: object) -> bytes:
    """aiomqtt types the payload loosely; the broker always hands bytes."""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()

