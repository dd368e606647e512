"""The RDSR's vocabulary: concept codes of DICOM PS3.16 and the UCUM units they come in.

The reader finds every figure by its coded concept (scheme, value), never by the
CodeMeaning text a vendor wrote: Siemens, Philips and GE word the meanings
differently, the codes are the standard's. SNOMED concepts appear under their
legacy SRT value in older files and their SCT value in newer ones, so both are
listed where the reader needs them.
"""

from __future__ import annotations

from typing import Final

Code = tuple[str, str]
"""``(coding scheme designator, code value)``, e.g. ``("DCM", "113722")``."""

#: SOP classes read, with the name the fixed output gives them.
SOP_CLASSES: Final = {
    "1.2.840.10008.5.1.4.1.1.88.67": "xray_radiation_dose_sr",
    "1.2.840.10008.5.1.4.1.1.88.76": "enhanced_xray_radiation_dose_sr",
}

#: The root container of TID 10001 (and of the enhanced report's TID 10040).
REPORT: Final[Code] = ("DCM", "113701")

# TID 10001: the report's context (observer, scope, irradiation span).
DEVICE_OBSERVER_NAME: Final[Code] = ("DCM", "121013")
DEVICE_OBSERVER_MANUFACTURER: Final[Code] = ("DCM", "121014")
DEVICE_OBSERVER_MODEL: Final[Code] = ("DCM", "121015")
DEVICE_OBSERVER_SERIAL: Final[Code] = ("DCM", "121016")
SCOPE_OF_ACCUMULATION: Final[Code] = ("DCM", "113705")
STUDY_INSTANCE_UID: Final[Code] = ("DCM", "110180")
START_OF_IRRADIATION: Final[Code] = ("DCM", "113809")

#: Scope of accumulation's values (CID 10000).
SCOPES: Final[dict[Code, str]] = {
    ("DCM", "113014"): "study",
    ("DCM", "113016"): "performed_procedure_step",
    ("DCM", "113015"): "series",
}

# Containers: accumulated dose (TID 10002 / enhanced TID 10041) and one irradiation
# event (TID 10003 / enhanced event summary).
ACCUMULATED: Final[frozenset[Code]] = frozenset({("DCM", "113702"), ("DCM", "130500")})
EVENT: Final[frozenset[Code]] = frozenset({("DCM", "113706"), ("DCM", "130501")})
#: The enhanced report's per-event details, joined to their event by its UID.
EVENT_DETAILS: Final[Code] = ("DCM", "130505")
#: Filter containers hold thicknesses in mm, nothing the reader wants.
FILTERS: Final[Code] = ("DCM", "113771")

ACQUISITION_PLANE: Final[Code] = ("DCM", "113764")
#: CID 10003.
PLANES: Final[dict[Code, str]] = {
    ("DCM", "113622"): "single",
    ("DCM", "113620"): "a",
    ("DCM", "113621"): "b",
}

# Accumulated figures: TID 10002 (all), 10004 (fluoroscopy), 10005 (acquisition).
DAP_TOTAL: Final[Code] = ("DCM", "113722")
KAR_TOTAL: Final[Code] = ("DCM", "113725")
FLUORO_DAP_TOTAL: Final[Code] = ("DCM", "113726")
FLUORO_KAR_TOTAL: Final[Code] = ("DCM", "113728")
FLUORO_TIME_TOTAL: Final[Code] = ("DCM", "113730")
ACQUISITION_DAP_TOTAL: Final[Code] = ("DCM", "113727")
ACQUISITION_KAR_TOTAL: Final[Code] = ("DCM", "113729")
ACQUISITION_TIME_TOTAL: Final[Code] = ("DCM", "113855")
#: TID 10001 has no peak skin dose of its own; a system that embeds a patient dose
#: estimate (TID 10030) gives it as the maximum absorbed dose (CID 10061).
PEAK_SKIN_DOSE: Final[frozenset[Code]] = frozenset({("DCM", "128531")})

# TID 10003: one irradiation event.
EVENT_UID: Final[frozenset[Code]] = frozenset({("DCM", "113769"), ("DCM", "113853")})
EVENT_START: Final[Code] = ("DCM", "111526")
EVENT_TYPE: Final[Code] = ("DCM", "113721")
PROTOCOL: Final[Code] = ("DCM", "125203")
DAP: Final[Code] = ("DCM", "122130")
KAR: Final[Code] = ("DCM", "113738")
IRRADIATION_DURATION: Final[Code] = ("DCM", "113742")
#: 113735 is the retired code of the same concept; older systems still write it.
EXPOSURE_TIME: Final[frozenset[Code]] = frozenset({("DCM", "113824"), ("DCM", "113735")})
PULSES: Final[Code] = ("DCM", "113768")
PULSE_RATE: Final[Code] = ("DCM", "113791")
PULSE_WIDTH: Final[Code] = ("DCM", "113793")
KVP: Final[Code] = ("DCM", "113733")
TUBE_CURRENT: Final[Code] = ("DCM", "113734")
AVERAGE_TUBE_CURRENT: Final[Code] = ("DCM", "113767")

#: CID 10002; fluoroscopy is SNOMED (legacy SRT and current SCT).
EVENT_TYPES: Final[dict[Code, str]] = {
    ("SRT", "P5-06000"): "fluoroscopy",
    ("SCT", "44491008"): "fluoroscopy",
    ("DCM", "113611"): "stationary_acquisition",
    ("DCM", "113612"): "stepping_acquisition",
    ("DCM", "113613"): "rotational_acquisition",
}

# TID 1020: a person taking part (the operator).
PERSON_NAME: Final[Code] = ("DCM", "113870")
PERSON_ROLE: Final[Code] = ("DCM", "113875")
PERSON_ID: Final[Code] = ("DCM", "113871")
#: CID 7453.
PERSON_ROLES: Final[dict[Code, str]] = {
    ("DCM", "113851"): "irradiation_administering",
    ("DCM", "113850"): "irradiation_authorizing",
}

# Units (UCUM, as coded), each with its factor to the output's unit. Siemens writes
# "Gym2" for Gy.m2: a known misspelling, accepted for what it plainly means.
DAP_UNITS: Final = {  # to Gy·m²
    "Gy.m2": 1.0, "Gym2": 1.0, "mGy.m2": 1e-3, "uGy.m2": 1e-6, "Gy.dm2": 1e-2,
    "Gy.cm2": 1e-4, "dGy.cm2": 1e-5, "cGy.cm2": 1e-6, "mGy.cm2": 1e-7, "uGy.cm2": 1e-10,
}
KERMA_UNITS: Final = {"Gy": 1.0, "dGy": 0.1, "cGy": 1e-2, "mGy": 1e-3, "uGy": 1e-6}  # to Gy
SECONDS_UNITS: Final = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0}
MILLISECONDS_UNITS: Final = {"ms": 1.0, "s": 1e3, "us": 1e-3}
RATE_UNITS: Final = {  # to pulses per second
    "{pulse}/s": 1.0, "{pulses}/s": 1.0, "/s": 1.0, "1/s": 1.0, "Hz": 1.0,
    "{pulse}/min": 1 / 60, "/min": 1 / 60,
}
COUNT_UNITS: Final = {"1": 1.0, "{pulse}": 1.0, "{pulses}": 1.0, "{pulse(s)}": 1.0}
KV_UNITS: Final = {"kV": 1.0, "V": 1e-3}
MA_UNITS: Final = {"mA": 1.0, "A": 1e3, "uA": 1e-3}
