"""Values Windows Setup accepts: product keys, time zones, HAL names.

Checked at validate time so a wrong value is a profile error, not a setup
screen waiting for someone at the console.
"""

from __future__ import annotations

import re

from builder.catalog import WindowsFacts

_KEY_SHAPE = re.compile(r"[A-Z0-9]{5}(-[A-Z0-9]{5}){4}")


def product_key_problem(key: str, facts: WindowsFacts) -> str | None:
    """Why `key` cannot be a product key for this release, or None.

    The shape (five groups of five) is common to every release since XP;
    the alphabet is the release's: keys leave out vowels and the letters and
    digits that read alike, and only Windows 8 / Server 2012 and later use N.
    A key of the right shape may still be rejected by Setup (its checksum is
    Microsoft's), so this catches typos and pasted garbage, not bad licences.
    """
    if not _KEY_SHAPE.fullmatch(key):
        return ("not a product key: expected five groups of five letters or digits separated "
                "by dashes (XXXXX-XXXXX-XXXXX-XXXXX-XXXXX)")
    odd = sorted({c for c in key.replace("-", "") if c not in facts.product_key_alphabet})
    if odd:
        return (f"the product key holds {', '.join(odd)}, which no product key for this release "
                f"contains (keys use only {facts.product_key_alphabet})")
    return None


# Windows time zones: winnt.sif takes the index, autounattend.xml the name.
# Microsoft's index table ("Microsoft Time Zone Index Values").
TIME_ZONES: dict[int, str] = {
    0: "Dateline Standard Time", 1: "Samoa Standard Time", 2: "Hawaiian Standard Time",
    3: "Alaskan Standard Time", 4: "Pacific Standard Time", 10: "Mountain Standard Time",
    13: "Mexico Standard Time 2", 15: "US Mountain Standard Time", 20: "Central Standard Time",
    25: "Canada Central Standard Time", 30: "Mexico Standard Time", 33: "Central America Standard Time",
    35: "Eastern Standard Time", 40: "US Eastern Standard Time", 45: "SA Pacific Standard Time",
    50: "Atlantic Standard Time", 55: "SA Western Standard Time", 56: "Pacific SA Standard Time",
    60: "Newfoundland Standard Time", 65: "E. South America Standard Time",
    70: "SA Eastern Standard Time", 73: "Greenland Standard Time", 75: "Mid-Atlantic Standard Time",
    80: "Azores Standard Time", 83: "Cape Verde Standard Time", 85: "GMT Standard Time",
    90: "Greenwich Standard Time", 95: "Central Europe Standard Time",
    100: "Central European Standard Time", 105: "Romance Standard Time",
    110: "W. Europe Standard Time", 113: "W. Central Africa Standard Time",
    115: "E. Europe Standard Time", 120: "Egypt Standard Time", 125: "FLE Standard Time",
    130: "GTB Standard Time", 135: "Israel Standard Time", 140: "South Africa Standard Time",
    145: "Russian Standard Time", 150: "Arab Standard Time", 155: "E. Africa Standard Time",
    158: "Arabic Standard Time", 160: "Iran Standard Time", 165: "Arabian Standard Time",
    170: "Caucasus Standard Time", 175: "Afghanistan Standard Time",
    180: "Ekaterinburg Standard Time", 185: "West Asia Standard Time", 190: "India Standard Time",
    193: "Nepal Standard Time", 195: "Central Asia Standard Time", 200: "Sri Lanka Standard Time",
    201: "N. Central Asia Standard Time", 203: "Myanmar Standard Time",
    205: "SE Asia Standard Time", 207: "North Asia Standard Time", 210: "China Standard Time",
    215: "Singapore Standard Time", 220: "Taipei Standard Time",
    225: "W. Australia Standard Time", 227: "North Asia East Standard Time",
    230: "Korea Standard Time", 235: "Tokyo Standard Time", 240: "Yakutsk Standard Time",
    245: "AUS Central Standard Time", 250: "Cen. Australia Standard Time",
    255: "AUS Eastern Standard Time", 260: "E. Australia Standard Time",
    265: "Tasmania Standard Time", 270: "Vladivostok Standard Time",
    275: "West Pacific Standard Time", 280: "Central Pacific Standard Time",
    285: "Fiji Standard Time", 290: "New Zealand Standard Time", 300: "Tonga Standard Time",
}
_ZONE_INDEX = {name.casefold(): index for index, name in TIME_ZONES.items()}
# Zones later releases know by name only (no winnt.sif index exists for them).
_NAME_ONLY = re.compile(r"[A-Za-z][A-Za-z0-9 .()+-]{1,62}")


def sif_time_zone(value: int | str) -> int:
    """The winnt.sif TimeZone index for a profile's timezone (index or name)."""
    if isinstance(value, int):
        if value not in TIME_ZONES:
            raise ValueError(f"{value} is not a Windows time zone index (e.g. 35 Eastern, 85 GMT, 110 W. Europe)")
        return value
    index = _ZONE_INDEX.get(value.strip().casefold())
    if index is None:
        raise ValueError(f"{value!r} has no winnt.sif time zone index; give the index "
                         "(e.g. 35 for Eastern Standard Time) or a name from Microsoft's index table")
    return index


def unattend_time_zone(value: int | str) -> str:
    """The autounattend.xml TimeZone name for a profile's timezone (index or name)."""
    if isinstance(value, int):
        return TIME_ZONES[sif_time_zone(value)]
    known = _ZONE_INDEX.get(value.strip().casefold())
    if known is not None:
        return TIME_ZONES[known]
    if value.strip() == "UTC" or _NAME_ONLY.fullmatch(value):
        return value.strip()
    raise ValueError(f"{value!r} is not a Windows time zone name (e.g. 'Eastern Standard Time', 'UTC')")


# The [Computer] entries of the XP / Server 2003 (32-bit) txtsetup.sif:
# what winnt.sif's ComputerType may name, and what F5 at setup offers.
HAL_NAMES = (
    "ACPI Multiprocessor PC",
    "ACPI Uniprocessor PC",
    "Advanced Configuration and Power Interface (ACPI) PC",
    "Compaq SystemPro Multiprocessor or 100% Compatible PC",
    "MPS Uniprocessor PC",
    "MPS Multiprocessor PC",
    "Standard PC",
    "Standard PC with C-Step i486",
)
