"""The hub's end-to-end receipt for stored lifecycle messages.

A broker's PUBACK only says the broker has a message; a broker that dies with its queue loses it.
So the node keeps every lifecycle message in its outbox until the hub says it has *stored* it: the
hub publishes a `Receipt` on `{prefix}/{node}/receipt` (QoS 1, not retained) naming each stored
message by its violation `id` and `stage`, batched.  The topic is ACL-protected: only the hub's own
broker identity may publish on it, and each node may read only its own.  Delivery of receipts is at
least once too: a node ignores items it no longer holds.

A node backs off between sends of a message that waits for its receipt (15 s, doubling up to 5
min), so a hub that was away would otherwise hear of what it missed minutes late.  Therefore every
process of the hub that stores lifecycle messages announces its start: a retained `HubBoot` on
`{prefix}/hub/boot` (published on every connect, with the same `boot` id for the life of the
process).  A node that sees a `boot` it has not seen yet sends everything awaiting a receipt again at
once.  ("hub" is a reserved node id, so the topic is never a node's.)
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .timefmt import utc_now_iso
from .topics import HubTopics, Topics

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
    return Topics(prefix, node).receipt


class HubBoot(BaseModel):
    """`{prefix}/hub/boot` (retained): a hub process that stores lifecycle messages has started."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    boot: str = Field(min_length=1, max_length=64, description="new for every start of a hub process")
    ts: str = Field(description="ISO 8601 time the process started, with its UTC offset")


def hub_boot_topic(prefix: str) -> str:
    return HubTopics(prefix).boot


def hub_boot_announcement(prefix: str) -> tuple[str, bytes]:
    """(topic, payload) of a new start of a hub process: publish it retained at QoS 1 on every connect."""
    boot = HubBoot(boot=uuid.uuid4().hex, ts=utc_now_iso())
    return hub_boot_topic(prefix), boot.model_dump_json().encode()
