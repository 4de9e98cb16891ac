"""The hub's end-to-end receipt for stored lifecycle messages.

A broker's PUBACK only says the broker has a message; a broker that dies with its queue loses it.
So the node keeps every lifecycle message in its outbox until the hub says it has *stored* it: the
hub publishes a `Receipt` on `{prefix}/{node}/receipt` (QoS 1, not retained) naming each stored
message by its violation `id` and `stage`, batched.  The topic is ACL-protected: only the hub's own
broker identity may publish on it, and each node may read only its own.  Delivery of receipts is at
least once too: a node ignores items it no longer holds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal["warning", "alert", "cleared"]

#: At most this many items in one receipt, so a receipt stays a small packet.
MAX_ITEMS = 512


class ReceiptItem(BaseModel):
    """One stored lifecycle message: the violation's id and the stage of that message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128)
    stage: Stage


class Receipt(BaseModel):
    """`{prefix}/{node}/receipt`: the lifecycle messages of `node` the hub has stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str = Field(min_length=1, max_length=128)
    items: list[ReceiptItem] = Field(min_length=1, max_length=MAX_ITEMS)
    ts: str = Field(description="ISO 8601 time the hub sent the receipt, with its UTC offset")


def receipt_topic(prefix: str, node: str) -> str:
    return f"{prefix}/{node}/receipt"
