"""The control calendar: periodic and triggered controls of each room, their due dates,
reminders and ``control_overdue`` events (see docs/hub.md, "Control calendar").

- :mod:`hub.controls.types`: the control types (built-in, from the configuration, added
  on the page) with their periodicity and triggers, as data;
- :mod:`hub.controls.schedule`: due dates and reminder levels (pure functions);
- :mod:`hub.controls.records`: what the calendar holds (rooms, types, history, what is due);
- :mod:`hub.controls.actions`: recording a control, a room's settings, a site type;
- :mod:`hub.controls.overdue`: the calendar's events and
  :func:`~hub.controls.overdue.check_overdue`, the job's periodic check;
- :mod:`hub.controls.ics`: the iCalendar (RFC 5545) feed.
"""
