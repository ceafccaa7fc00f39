"""Hash chains: each append-only row carries the hash of the row before it.

Changing, removing or inserting a row anywhere breaks every hash after it, so
``verify_chain`` finds tampering done directly in the database, where the application's
own refusals (``AppendOnly``) and the database triggers do not reach.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(payload: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash covers: sorted keys, no spaces, dates as ISO text."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def link_hash(previous: str, payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(previous.encode() + canonical(payload)).hexdigest()


@dataclass(frozen=True)
class Break:
    """Where a chain stops being consistent."""

    row_id: int
    reason: str


def verify_chain(rows: Iterable[tuple[int, str, str, Mapping[str, Any]]]) -> list[Break]:
    """Check rows given in chain order as ``(id, prev_hash, entry_hash, payload)``."""
    breaks = []
    expected_previous = GENESIS
    for row_id, prev_hash, entry_hash, payload in rows:
        if prev_hash != expected_previous:
            breaks.append(
                Break(row_id, "previous hash does not match: a row was removed or inserted")
            )
        if link_hash(prev_hash, payload) != entry_hash:
            breaks.append(Break(row_id, "content does not match its hash: the row was changed"))
        expected_previous = entry_hash
    return breaks
