"""The customers: a small, fixed crowd of fictional people with one identity per channel."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# language -> names; fictional people.
_NAMES = {
    "en": "Olivia Bennett, Marcus Reid, Priya Nair, Tom Gallagher, Hannah Schultz, Kwame Mensah, "
    "Grace Liu, Daniel Novak, Fatima Al-Sayed, Jack Thornton, Mei Tanaka, Samuel Adeyemi, "
    "Laura Fischer, Ryan O'Connor, Zoe Whitaker, Ivan Petrov, Noah Jensen, Aisha Khan, "
    "Ethan Brooks, Sophie Turner, Lucas Meyer, Nina Kowalski, Omar Haddad, Emily Carter, "
    "Victor Hale, Ruth Abebe, Leo Marchetti, Isla Morgan",
    "es": "Ana López, Carlos Mendoza, Lucía Fernández, Javier Ortega, Sofía Ramírez, "
    "Diego Castillo, Valentina Cruz, Mateo Herrera",
    "fr": "Camille Laurent, Julien Moreau, Élodie Girard, Antoine Rousseau",
}
_DOMAINS = ("example.com", "example.org", "example.net")


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


def demo_people() -> tuple[Person, ...]:
    people = []
    named = [(name, lang) for lang, names in _NAMES.items() for name in names.split(", ")]
    for n, (name, language) in enumerate(named):
        first, last = (_ascii(part) for part in name.split(" ", 1))
        people.append(
            Person(
                name=name,
                language=language,
                email=f"{first}.{last}@{_DOMAINS[n % len(_DOMAINS)]}",
                # 555-0100..0199 are reserved for fiction.
                phone=f"+1 415 555 {100 + n:04d}",
                chat=f"{first}{last[0]}{n:02d}",
                loyalty=f"LY-{240100 + n}",
            )
        )
    return tuple(people)
