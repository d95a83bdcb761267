"""The clinic's facts and weekly hours, read from data/clinic.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from urllib.parse import quote_plus

from webapp.hours import DAY_KEYS, Schedule, format_time, parse_weekly
from webapp.settings import ConfigError


@dataclass(frozen=True)
class Clinic:
    """Who and where the clinic is, and its regular weekly hours."""

    name: str
    description: str
    street: str
    locality: str
    region: str
    postal_code: str
    country: str
    phone: str
    email: str
    schedule: Schedule

    @property
    def address_line(self) -> str:
        """The postal address on one line."""
        return f"{self.street}, {self.locality}, {self.region} {self.postal_code}"

    @property
    def directions_url(self) -> str:
        """A plain link to turn-by-turn directions (opens the map app on a phone; no embed)."""
        return "https://www.google.com/maps/dir/?api=1&destination=" + quote_plus(
            f"{self.name}, {self.address_line}"
        )

    def weekly_rows(self) -> list[tuple[str, str]]:
        """(day, hours) for each weekday, Monday first, e.g. ("Monday", "9:00 AM – 5:00 PM")."""
        return [
            (day.capitalize(), hours_text(hours))
            for day, hours in zip(DAY_KEYS, self.schedule.weekly, strict=True)
        ]

    @property
    def hours_summary(self) -> str:
        """The weekly hours in one phrase: "Every day, 9:00 AM – 5:00 PM" when all alike."""
        texts = {text for _, text in self.weekly_rows()}
        if len(texts) == 1:
            return f"Every day, {texts.pop()}"
        return "; ".join(f"{day[:3]} {text}" for day, text in self.weekly_rows())

    @property
    def phone_href(self) -> str:
        """The phone number as a tel: link target."""
        digits = "".join(ch for ch in self.phone if ch.isdigit() or ch == "+")
        return f"tel:{digits}"


def hours_text(hours: tuple[time, time] | None) -> str:
    """One day's hours for people: "9:00 AM – 5:00 PM" or "Closed"."""
    if hours is None:
        return "Closed"
    return f"{format_time(hours[0])} – {format_time(hours[1])}"


def load_clinic(path: Path) -> Clinic:
    """Read and check the clinic file; ConfigError names what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"the clinic's data file is missing: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        address, contact, hours = data["address"], data.get("contact", {}), data["hours"]
        weekly = {day: hours.get(day) for day in DAY_KEYS}
        schedule = parse_weekly(weekly, hours["timezone"])
        return Clinic(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            street=str(address["street"]),
            locality=str(address["locality"]),
            region=str(address["region"]),
            postal_code=str(address["postal_code"]),
            country=str(address.get("country", "US")),
            phone=str(contact.get("phone", "")),
            email=str(contact.get("email", "")),
            schedule=schedule,
        )
    except KeyError as exc:
        raise ConfigError(f"{path} is missing {exc.args[0]!r}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
