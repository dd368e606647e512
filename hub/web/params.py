"""Bounded path and query parameters: a value the store cannot hold is malformed (422).

SQLite's integers are signed 64-bit: an id or an offset beyond ``2**63 - 1`` cannot
be bound to a query (``OverflowError``), so FastAPI refuses it with a 422 naming the
parameter before any route runs; an id that fits but names nothing is the route's 404.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Path, Query

#: Largest value of an SQLite INTEGER.
MAX_INT: Final = 2**63 - 1

Id = Annotated[int, Path(ge=1, le=MAX_INT, description="a stored id (1 to 2^63 - 1)")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="rows to skip")]
Page = Annotated[int, Query(ge=1, le=MAX_INT, description="page number, from 1")]
#: The same bounds, undocumented: the accounts' and sessions' ids (their API's schema says
#: no more than this).
RowId = Annotated[int, Path(ge=1, le=MAX_INT)]
