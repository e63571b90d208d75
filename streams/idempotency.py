"""Whether a keyed event is new, a replay of itself, or a client's resend. Pure logic."""

from __future__ import annotations

from typing import Any, Literal

Verdict = Literal["new", "replay", "duplicate"]


def classify(seen: dict[str, Any] | None, receipt_id: str, now_ms: int, window_ms: int) -> Verdict:
    """Judge an event against its ``seen`` entry (``{"r": receipt_id, "t": epoch ms}``).

    - same receipt: Kafka delivered the same record again (a crash replay or a re-drive):
      process it again, its effects are idempotent;
    - another receipt within the window: the client sent it again: ``duplicate``;
    - no entry, or an entry older than the window: ``new``.
    """
    if seen is None:
        return "new"
    if seen["r"] == receipt_id:
        return "replay"
    if now_ms - int(seen["t"]) < window_ms:
        return "duplicate"
    return "new"


def entry(receipt_id: str, now_ms: int) -> dict[str, Any]:
    """What the seen table stores for a processed keyed event."""
    return {"r": receipt_id, "t": now_ms}
