"""Reading the imaging systems' DICOM radiation dose reports (RDSR, issue 17).

The public names load lazily: importing ``hub.rdsr.config`` (the hub's ``[dicom]``
section, read at every start) must not load pydicom, which costs most of a second.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"Device": "hub.rdsr.model", "IrradiationEvent": "hub.rdsr.model",
         "Operator": "hub.rdsr.model", "PlaneTotals": "hub.rdsr.model", "Rdsr": "hub.rdsr.model",
         "Totals": "hub.rdsr.model", "RdsrError": "hub.errors",
         "from_dataset": "hub.rdsr.reader", "read": "hub.rdsr.reader",
         "read_bytes": "hub.rdsr.reader"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'hub.rdsr' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
