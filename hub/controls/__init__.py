"""The verification calendar of the order of 23 October 2020: periodic and triggered
verifications of each room, their due dates, reminders and ``control_overdue`` events
(see docs/hub.md, "Control calendar").

- :mod:`hub.controls.types`: the verification types (built-in, optional quality controls,
  legacy, from the configuration, added on the page) with their intervals, occasions and
  legal basis, as data;
- :mod:`hub.controls.schedule`: due dates and reminder levels (pure functions);
- :mod:`hub.controls.records`: what the calendar holds (rooms, occasions, types, history);
- :mod:`hub.controls.workplace`: when a signed quarterly report stands as the periodic
  workplace verification (pure conditions, and the signed reports read);
- :mod:`hub.controls.due`: what is due, per room, type and measurement point;
- :mod:`hub.controls.actions`: recording a verification, a room's settings and occasions,
  a site type, the site's setting of a type;
- :mod:`hub.controls.overdue`: the calendar's events and
  :func:`~hub.controls.overdue.check_overdue`, the job's periodic check;
- :mod:`hub.controls.ics`: the iCalendar (RFC 5545) feed.
"""
