"""The PCR's web page and JSON API (FastAPI, Jinja2, HTMX, server-sent events)."""
