"""The hub's HTML pages, forms and downloads (CSV, ICS, PDF), one module per resource.

Each module's ``router`` is listed in :data:`hub.web.app.ROUTERS`; the JSON API
of the same resources is :mod:`hub.web.api`.
"""
