"""The hub's JSON API under ``/api`` (documented at ``/api/docs``), one module per resource.

Each module's ``router`` is listed in :data:`hub.web.app.ROUTERS`; the HTML pages
of the same resources are :mod:`hub.web.pages`.
"""
