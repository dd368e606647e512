"""The control calendar: periodic and triggered controls of each room, their due dates,
reminders and ``control_overdue`` events (see docs/hub.md, "Control calendar").

- :mod:`hub.controls.types`: the control types (built-in, from the configuration, added
  on the page) with their periodicity and triggers, as data;
- :mod:`hub.controls.schedule`: due dates and reminder levels (pure functions);
- :mod:`hub.controls.store`: the tables, recording a control, room settings,
  :func:`~hub.controls.store.check_overdue`;
- :mod:`hub.controls.ics`: the iCalendar (RFC 5545) feed.
"""
