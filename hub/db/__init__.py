"""The hub's store: the one way to open it, its schema and migrations, and what is
derived from it.

- :mod:`hub.db.connection`: :func:`~hub.db.connection.connect`, the only place SQLite is
  opened (busy timeout and foreign keys always), and :func:`~hub.db.connection.write`;
- :mod:`hub.db.schema` and :mod:`hub.db.schema_app`: every table, index and trigger;
- :mod:`hub.db.migrations`: the numbered steps under ``PRAGMA user_version``, applied at
  start by :meth:`hub.db.store.Store.open`; a store from a newer hub is refused;
- :mod:`hub.db.store`: the ingest's writes and start-up reads; :mod:`hub.db.chain_store`:
  its writes of the hash chain (records as received, changes, conflicts, breaks);
- :mod:`hub.db.rollups` and :mod:`hub.db.rollup_series`: the dose-rate rollups, and a
  chart's series read from them and from the raw readings they do not count yet.

**Who writes what, in which thread.** The store is one SQLite file in WAL mode: one
writer at a time, readers never blocked and never blocking.

- The ingest's one writer thread (:class:`hub.ingest.service.Ingest`'s one-worker
  executor, through one :class:`~hub.db.store.Store`): records (``received``,
  ``readings``, ``exposures``, ``alarms``, ``changes``, ``live``, ``signal_changes``),
  ``record_conflicts``, ``chain_breaks``, ``devices``, ``journals``, ``counters``,
  ``rejected``, ``quarantine`` and the ingest's events,
  one transaction per batch (``synchronous=FULL``: the acks leave after the commit).
- Web requests (one connection each, the worker thread serving them): the PCR's and the
  admin's actions (events' workflow, accounts, tokens, sessions, audit, the calendar's
  records and settings, points, reports' measurements and signatures), each in one short
  ``BEGIN IMMEDIATE`` (:func:`~hub.db.connection.write`) with its audit row. A GET never
  writes (a session's ``last_seen_at``, at most once a minute, is the one exception).
- The jobs (:mod:`hub.jobs`, in their own threads, a connection each): the rollups
  (:func:`hub.db.rollups.refresh`, in chunks), the reports' preparation
  (:mod:`hub.reports`), the calendar's overdue check (:mod:`hub.controls`).
- The command line (``voyant-hub quarantine``, ``journal``, ``user``, ``token``): short
  transactions of its own, through a :class:`~hub.db.store.Store` or :func:`connect`;
  ``voyant-hub verify`` and ``journal export`` only read (``connect(read_only=True)``).

Everything else reads. Writers wait for each other (``busy_timeout``: 30 s for the
ingest, 10 s for the others) rather than fail; a writer keeps its transactions short so
that the ingest, whose acknowledgements wait on its commits, never waits long.
"""
