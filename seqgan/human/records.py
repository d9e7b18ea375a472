"""The rows a study holds, as the rest of the app sees them, and what valid names, labels and tokens look like."""

from __future__ import annotations

import re
from dataclasses import dataclass

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9_.@:+-]{1,100}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


@dataclass(frozen=True)
class SystemSpec:
    """One source of items: its name, where its texts came from, and whether it is human-written."""

    name: str
    source: str
    is_real: bool = False


@dataclass(frozen=True)
class Rater:
    """A rater: database id, public label, secret token (None for raters imported from elsewhere)."""

    id: int
    label: str
    token: str | None
    source: str


@dataclass(frozen=True)
class NextItem:
    """The item a rater sees next: its blinded code and text, how many they answered, how many in all."""

    code: str
    text: str
    answered: int
    total: int


@dataclass(frozen=True)
class AnswerRow:
    """One stored answer, with the system resolved (never shown to raters)."""

    rater: str
    item: str
    system: str
    human: bool
    fluency: int | None
    answered_at: str
    source: str


@dataclass(frozen=True)
class Progress:
    """How far one rater got."""

    label: str
    token: str | None
    source: str
    answered: int
    total: int
    last_answer_at: str | None
