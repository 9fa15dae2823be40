"""The customers: a crowd of fictional people with one identity per channel.

A contact center's week is mostly people it has not heard from that week: the crowd is
large enough (5,000 by default) that a new issue comes from someone new, and the only
people who come back on the same topic are those the traffic sends back on purpose
(see `traffic`). The same index always makes the same person, so a later run meets
the customers of an earlier one again.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

CROWD_SIZE = 5000

# language -> (first names, last names); fictional people. English speakers are most of
# the crowd, as in the contact center the demo stands for; Spanish and French speakers
# need the agents who speak their language.
_NAMES = {
    "en": (
        "Olivia Marcus Priya Tom Hannah Kwame Grace Daniel Fatima Jack Mei Samuel Laura "
        "Ryan Zoe Ivan Noah Aisha Ethan Sophie Lucas Nina Omar Emily Victor Ruth Leo Isla",
        "Bennett Reid Nair Gallagher Schultz Mensah Liu Novak Al-Sayed Thornton Tanaka "
        "Adeyemi Fischer O'Connor Whitaker Petrov Jensen Khan Brooks Turner Meyer Kowalski "
        "Haddad Carter Hale Abebe Marchetti Morgan Okoro Lindqvist",
    ),
    "es": (
        "Ana Carlos Lucía Javier Sofía Diego Valentina Mateo Isabel Andrés",
        "López Mendoza Fernández Ortega Ramírez Castillo Cruz Herrera Navarro Rojas",
    ),
    "fr": (
        "Camille Julien Élodie Antoine Manon Hugo Chloé Théo",
        "Laurent Moreau Girard Rousseau Lefebvre Bonnet Mercier Fontaine",
    ),
}
# Of every 20 people: 16 speak English, 3 Spanish, 1 French.
_LANGUAGE_CYCLE = ("en",) * 16 + ("es",) * 3 + ("fr",)
_DOMAINS = ("example.com", "example.org", "example.net")
# 555-0100..0199 are reserved for fiction in every North American area code.
# fmt: off
_AREA_CODES = (
    "415", "212", "312", "617", "206", "303", "512", "602", "404", "305",
    "503", "702", "615", "919", "612", "314", "216", "412", "801", "858",
    "213", "646", "718", "510", "408", "714", "480", "720", "971", "541",
    "202", "301", "410", "215", "267", "973", "201", "860", "401", "603",
    "207", "802", "518", "716", "585", "614", "513", "317", "414", "608",
)
# fmt: on


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    language: str
    email: str
    phone: str
    chat: str
    loyalty: str

    @property
    def social(self) -> str:
        return f"x:@{self.chat}"


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def person(n: int) -> Person:
    """The n-th person of the crowd (the same one on every run)."""
    language = _LANGUAGE_CYCLE[n % len(_LANGUAGE_CYCLE)]
    firsts, lasts = (names.split() for names in _NAMES[language])
    first = firsts[n % len(firsts)]
    last = lasts[(n // len(firsts)) % len(lasts)]
    first_ascii, last_ascii = _ascii(first), _ascii(last)
    area = _AREA_CODES[(n // 100) % len(_AREA_CODES)]
    return Person(
        name=f"{first} {last}",
        language=language,
        # The index keeps addresses and handles unique where two people share a name.
        email=f"{first_ascii}.{last_ascii}{n}@{_DOMAINS[n % len(_DOMAINS)]}",
        phone=f"+1 {area} 555 {100 + n % 100:04d}",
        chat=f"{first_ascii}{last_ascii[0]}{n:04d}",
        loyalty=f"LY-{240100 + n}",
    )


def demo_people(size: int = CROWD_SIZE) -> tuple[Person, ...]:
    if size > 100 * len(_AREA_CODES):
        raise ValueError(f"at most {100 * len(_AREA_CODES)} people have a fictional number")
    return tuple(person(n) for n in range(size))
