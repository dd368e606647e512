"""The tables of the hub's people and work: accounts, sessions and audit (the web), the
control calendar, measurement points and quarterly reports, and the dose-rate rollups.

Written by web requests (the PCR's and the admin's actions) and by the jobs (rollups,
reports, the calendar's check); the ingest writes none of them, but registering a device
fires ``points_probe_for_new_device`` here. Run by :mod:`hub.db.migrations` only, through
:func:`hub.db.schema.statements`.
"""

from __future__ import annotations

from typing import Final

from hub.db.schema_clinical import CLINICAL
from hub.db.schema_imaging import OPERATORS, RDSR_DEVICES, RDSR_DEVICES_TRIGGER, RDSR_MATCHES

#: Accounts (:mod:`hub.web.accounts`): a token's ``scope`` is ``api`` (the JSON API, and
#: the calendar feed through a bearer header) or ``calendar`` (the feed only).
ACCOUNTS: Final = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL CHECK (role IN ('viewer', 'pcr', 'admin', 'clinical')),
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    scope TEXT NOT NULL DEFAULT 'api' CHECK (scope IN ('api', 'calendar'))
);
CREATE TABLE IF NOT EXISTS web_meta (key TEXT PRIMARY KEY, value TEXT);
"""

#: The audit log (:mod:`hub.web.audit`) and server-side sessions (:mod:`hub.web.session_store`).
AUDIT_AND_SESSIONS: Final = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    ip TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_by_user ON audit (username, id);
CREATE INDEX IF NOT EXISTS audit_by_action ON audit (action, id);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    sid_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    revoked_at TEXT,
    revoked_why TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, revoked_at);
CREATE INDEX IF NOT EXISTS sessions_by_ip ON sessions (ip, user_id);
"""

#: The verification calendar of the order of 23 October 2020 (migration step 3,
#: :func:`hub.db.migrate_calendar.calendar_to_3`): a room's modifications and maintenances
#: (append-only), the site's setting of a built-in or optional type.
CONTROLS_3: Final = """
CREATE TABLE IF NOT EXISTS control_occasions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('modification', 'maintenance')),
    on_day TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    window_start TEXT,
    window_end TEXT
);
CREATE INDEX IF NOT EXISTS idx_control_occasions_room ON control_occasions (site, room, on_day);
CREATE TRIGGER IF NOT EXISTS control_occasions_no_update BEFORE UPDATE ON control_occasions
    BEGIN SELECT RAISE(ABORT, 'occasions are kept: record it again'); END;
CREATE TRIGGER IF NOT EXISTS control_occasions_no_delete BEFORE DELETE ON control_occasions
    BEGIN SELECT RAISE(ABORT, 'occasions are kept'); END;
CREATE TRIGGER IF NOT EXISTS control_occasions_no_replace BEFORE INSERT ON control_occasions
    WHEN EXISTS (SELECT 1 FROM control_occasions WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'occasions are kept as recorded'); END;
CREATE TABLE IF NOT EXISTS control_type_settings (
    key TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL DEFAULT 1,
    period_months INTEGER,
    period_months_mobile INTEGER,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
"""

#: The verification calendar (:mod:`hub.controls`): ``control_records`` is append-only;
#: ``point_id`` (step 3) names the measurement point of a workplace verification;
#: ``control_rooms.upgraded_on`` (step 3): the day step 3 brought the 2020 verifications
#: to a room tracked before (NULL: tracked with them). ``window_start``/``window_end``
#: (step 8, here and in ``control_occasions``): the hours it took, UTC, both or neither;
#: the reconciliation leaves out the emissions inside them (:mod:`hub.rdsr.reconcile`).
CONTROLS: Final = """
CREATE TABLE IF NOT EXISTS control_rooms (
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    device_kind TEXT NOT NULL DEFAULT 'fixed' CHECK (device_kind IN ('fixed', 'mobile')),
    received_on TEXT,
    first_use_on TEXT,
    use_changed_on TEXT,
    tracked_since TEXT NOT NULL,
    updated_at TEXT,
    updated_by TEXT,
    upgraded_on TEXT,
    PRIMARY KEY (site, room)
);
CREATE TABLE IF NOT EXISTS control_types (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    period_months INTEGER,
    period_months_mobile INTEGER,
    triggers TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS control_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    control TEXT NOT NULL,
    done_on TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('ok', 'not_ok')),
    performed_by TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    document_ref TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    point_id INTEGER,
    window_start TEXT,
    window_end TEXT
);
CREATE INDEX IF NOT EXISTS idx_control_records_room
    ON control_records (site, room, control, done_on);
CREATE TRIGGER IF NOT EXISTS control_records_no_update BEFORE UPDATE ON control_records
    BEGIN SELECT RAISE(ABORT, 'control records are kept: record the control again'); END;
CREATE TRIGGER IF NOT EXISTS control_records_no_delete BEFORE DELETE ON control_records
    BEGIN SELECT RAISE(ABORT, 'control records are kept'); END;
-- INSERT OR REPLACE (or REPLACE INTO) with an existing id deletes the row without firing
-- the DELETE trigger unless PRAGMA recursive_triggers is on (sqlite_utils sets it, the
-- sqlite3 shell and a plain connection do not): refuse any insert of an id in use.
CREATE TRIGGER IF NOT EXISTS control_records_no_replace BEFORE INSERT ON control_records
    WHEN EXISTS (SELECT 1 FROM control_records WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'control records are kept as recorded'); END;
""" + CONTROLS_3


#: Measurement points (:mod:`hub.reports.points`). A device gets its probe point the
#: moment the ingest registers it (the PCR sees the room's point at once, whatever
#: process ingests): a trigger on the ingest's ``devices``.
POINTS: Final = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('probe', 'manual')),
    thresholds TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    declared_zones TEXT NOT NULL DEFAULT '{}',
    background_cpm REAL,
    UNIQUE (device, name)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_points_one_probe ON points (device) WHERE kind = 'probe';
-- A device gets its probe point the moment the ingest registers it (the PCR sees
-- the room's point at once, whatever process ingests).
CREATE TRIGGER IF NOT EXISTS points_probe_for_new_device AFTER INSERT ON devices
WHEN NOT EXISTS (SELECT 1 FROM points WHERE device = NEW.device AND kind = 'probe')
BEGIN
    INSERT OR IGNORE INTO points (device, site, room, name, kind, created_at)
    VALUES (NEW.device, NEW.site, NEW.room, 'probe', 'probe',
            strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
"""

#: Quarterly reports (:mod:`hub.reports`): signed rows are frozen by the database itself.
#: Why the ``never_replaced`` and ``identity_fixed`` triggers: SQLite's REPLACE conflict
#: resolution (INSERT OR REPLACE, REPLACE, UPDATE OR REPLACE) deletes the row in the way
#: WITHOUT firing its DELETE triggers (unless PRAGMA recursive_triggers, which every
#: connection would have to set). Refusing an insert that collides with an existing row,
#: and any change of the columns that identify a row, closes that way around
#: ``reports_never_deleted`` and ``measurements_signed_delete``.
REPORTS: Final = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    point_id INTEGER NOT NULL REFERENCES points (id),
    device TEXT NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    quarter TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'signed')),
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    html TEXT,
    pdf BLOB,
    pdf_sha256 TEXT,
    signed_by TEXT,
    signer_name TEXT,
    signed_at TEXT,
    supersedes INTEGER REFERENCES reports (id),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    UNIQUE (point_id, quarter, version)
);
CREATE INDEX IF NOT EXISTS idx_reports_quarter ON reports (quarter, site, room);
CREATE TABLE IF NOT EXISTS report_measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id INTEGER NOT NULL REFERENCES reports (id),
    point_id INTEGER NOT NULL REFERENCES points (id),
    kind TEXT NOT NULL CHECK (kind IN ('passive_dosimeter', 'spot_check')),
    measured_on TEXT NOT NULL,
    period_end TEXT,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    measured_by TEXT NOT NULL,
    instrument TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_report_measurements ON report_measurements (report_id, id);
CREATE TRIGGER IF NOT EXISTS reports_signed_frozen BEFORE UPDATE ON reports
    WHEN OLD.status = 'signed'
    BEGIN SELECT RAISE(ABORT, 'a signed report cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS reports_never_deleted BEFORE DELETE ON reports
    BEGIN SELECT RAISE(ABORT, 'a report is never deleted'); END;
CREATE TRIGGER IF NOT EXISTS measurements_signed_insert BEFORE INSERT ON report_measurements
    WHEN (SELECT status FROM reports WHERE id = NEW.report_id) = 'signed'
    BEGIN SELECT RAISE(ABORT, 'a signed report cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS measurements_signed_update BEFORE UPDATE ON report_measurements
    WHEN (SELECT status FROM reports WHERE id = OLD.report_id) = 'signed'
    BEGIN SELECT RAISE(ABORT, 'a signed report cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS measurements_signed_delete BEFORE DELETE ON report_measurements
    WHEN (SELECT status FROM reports WHERE id = OLD.report_id) = 'signed'
    BEGIN SELECT RAISE(ABORT, 'a signed report cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS reports_never_replaced BEFORE INSERT ON reports
    WHEN EXISTS (SELECT 1 FROM reports WHERE id = NEW.id OR (point_id = NEW.point_id
                 AND quarter = NEW.quarter AND version = NEW.version))
    BEGIN SELECT RAISE(ABORT, 'a report is never replaced'); END;
CREATE TRIGGER IF NOT EXISTS reports_identity_fixed
    BEFORE UPDATE OF id, point_id, quarter, version ON reports
    WHEN NEW.id IS NOT OLD.id OR NEW.point_id IS NOT OLD.point_id
         OR NEW.quarter IS NOT OLD.quarter OR NEW.version IS NOT OLD.version
    BEGIN SELECT RAISE(ABORT, 'a report keeps its id, point, quarter and version'); END;
CREATE TRIGGER IF NOT EXISTS measurements_never_replaced BEFORE INSERT ON report_measurements
    WHEN EXISTS (SELECT 1 FROM report_measurements WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'a measurement is never replaced'); END;
CREATE TRIGGER IF NOT EXISTS measurements_identity_fixed
    BEFORE UPDATE OF id, report_id ON report_measurements
    WHEN NEW.id IS NOT OLD.id OR NEW.report_id IS NOT OLD.report_id
    BEGIN SELECT RAISE(ABORT, 'a measurement keeps its id and report'); END;
"""

#: Dose-rate rollups (:mod:`hub.db.rollups`): per device and UTC minute, UTC hour or
#: Paris day, and the watermarks of what they count.
ROLLUPS: Final = """
CREATE TABLE IF NOT EXISTS rollup_minute (
    device TEXT NOT NULL, bucket TEXT NOT NULL, n INTEGER NOT NULL, seconds REAL NOT NULL,
    sum_mean REAL NOT NULL, max_mean REAL NOT NULL, max_max REAL NOT NULL, dose REAL NOT NULL,
    saturated INTEGER NOT NULL, cal_min TEXT, cal_max TEXT,
    PRIMARY KEY (device, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_hour (
    device TEXT NOT NULL, bucket TEXT NOT NULL, n INTEGER NOT NULL, seconds REAL NOT NULL,
    sum_mean REAL NOT NULL, max_mean REAL NOT NULL, max_max REAL NOT NULL, dose REAL NOT NULL,
    saturated INTEGER NOT NULL, cal_min TEXT, cal_max TEXT,
    PRIMARY KEY (device, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_day (
    device TEXT NOT NULL, bucket TEXT NOT NULL, n INTEGER NOT NULL, seconds REAL NOT NULL,
    sum_mean REAL NOT NULL, max_mean REAL NOT NULL, max_max REAL NOT NULL, dose REAL NOT NULL,
    saturated INTEGER NOT NULL, cal_min TEXT, cal_max TEXT,
    PRIMARY KEY (device, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_marks (
    device TEXT NOT NULL, journal TEXT NOT NULL, done INTEGER NOT NULL, wm INTEGER NOT NULL,
    gap_rows INTEGER NOT NULL,
    PRIMARY KEY (device, journal)
) WITHOUT ROWID;
"""

#: The site's own labels of its boxes, door and lamp signals and measurement points
#: (:mod:`hub.web.names`; migration step 4, :func:`hub.db.migrate_names.names_to_4`).
NAMES: Final = """
CREATE TABLE IF NOT EXISTS display_names (
    device TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('device', 'signal', 'point')),
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (device, kind, key)
) WITHOUT ROWID;
"""

#: DICOM radiation dose reports received (:mod:`hub.rdsr.store`; migration step 5,
#: :func:`hub.db.migrate_rdsr.rdsr_to_5`). A file once by SOP Instance UID, kept whole
#: (``raw``, last: the other columns are read without its overflow pages) with the peer the
#: association authenticated; a study's totals are one file's (``totals_sop_instance_uid``,
#: the most complete), never a sum; an event once by its UID. No column holds a patient
#: identifier; ``raw``, the file as received, does (nothing shows it: issue 17, item 5).
#: ``rdsr_refused``: what was not stored, kept once by hash.
RDSR: Final = """
CREATE TABLE IF NOT EXISTS rdsr_files (
    sop_instance_uid TEXT PRIMARY KEY,
    sop_class TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    received_at TEXT NOT NULL,
    peer TEXT NOT NULL,
    peer_device TEXT,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    manufacturer TEXT,
    model TEXT,
    serial TEXT,
    observer_name TEXT,
    events INTEGER NOT NULL,
    last_event_utc TEXT,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS rdsr_files_by_study ON rdsr_files (study_instance_uid);
CREATE TABLE IF NOT EXISTS rdsr_studies (
    study_instance_uid TEXT PRIMARY KEY,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    totals_sop_instance_uid TEXT NOT NULL REFERENCES rdsr_files (sop_instance_uid),
    manufacturer TEXT,
    model TEXT,
    serial TEXT,
    observer_name TEXT,
    start_utc TEXT,
    scope TEXT,
    dap_gym2 REAL,
    kar_gy REAL,
    fluoro_dap_gym2 REAL,
    fluoro_kar_gy REAL,
    fluoro_time_s REAL,
    acquisition_dap_gym2 REAL,
    acquisition_kar_gy REAL,
    acquisition_time_s REAL,
    peak_skin_dose_gy REAL,
    per_plane TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS rdsr_irradiation_events (
    irradiation_event_uid TEXT PRIMARY KEY,
    uid_derived INTEGER NOT NULL DEFAULT 0,
    study_instance_uid TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL REFERENCES rdsr_files (sop_instance_uid),
    start_utc TEXT,
    duration_s REAL,
    xray_on_s REAL,
    type TEXT,
    plane TEXT,
    pulses INTEGER,
    pulse_rate_hz REAL,
    dap_gym2 REAL,
    kar_gy REAL,
    protocol TEXT
);
CREATE INDEX IF NOT EXISTS rdsr_events_by_study ON rdsr_irradiation_events
    (study_instance_uid, start_utc);
CREATE INDEX IF NOT EXISTS rdsr_events_by_start ON rdsr_irradiation_events (start_utc);
CREATE TABLE IF NOT EXISTS rdsr_refused (
    sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('not_rdsr', 'conflict')),
    sop_instance_uid TEXT,
    reason TEXT NOT NULL,
    peer TEXT NOT NULL,
    first_received_at TEXT NOT NULL,
    last_received_at TEXT NOT NULL,
    times INTEGER NOT NULL DEFAULT 1,
    size INTEGER NOT NULL,
    raw BLOB
);
"""

#: In creation order: ``points`` before ``reports`` (referenced), ``users`` before the rest.
SCRIPT: Final = (ACCOUNTS + AUDIT_AND_SESSIONS + CONTROLS + POINTS + REPORTS + ROLLUPS + NAMES
                 + RDSR + RDSR_DEVICES + RDSR_DEVICES_TRIGGER + RDSR_MATCHES + OPERATORS
                 + CLINICAL)
