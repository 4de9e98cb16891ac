"""The hub's receipts for stored lifecycle messages, batched per node.

A node keeps each lifecycle message until the hub says it has stored it (see edge.contract.receipt).
Whatever stores messages at the hub (`edge-hub listen`, the hub service) calls `stored(node, id,
stage)` once the message is committed (a redelivery too: the node may have missed the first receipt),
and `flush()` often; a batch leaves when it is full or `max_delay_s` old, one message per node.
Receipts go out at QoS 1 on `{prefix}/{node}/receipt`, a topic only the hub may publish on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..contract.receipt import MAX_ITEMS, Receipt, ReceiptItem, receipt_topic
from ..contract.timefmt import utc_now_iso

STAGES = ("warning", "alert", "cleared")


class ReceiptBatcher:
    """Collects (id, stage) per node and publishes them as `Receipt` messages."""

    def __init__(self, publish: Callable[[str, bytes], object], prefix: str = "edge", *,
                 max_delay_s: float = 0.2, max_items: int = MAX_ITEMS,
                 clock: Callable[[], float] = time.monotonic):
        self.publish = publish  # (topic, payload) -> anything; the caller's client publishes at QoS 1
        self.prefix = prefix
        self.max_delay_s = max_delay_s
        self.max_items = min(max_items, MAX_ITEMS)
        self.clock = clock
        self._items: dict[str, dict[tuple[str, str], None]] = {}  # node -> ordered set of (id, stage)
        self._since: dict[str, float] = {}
        self.sent = 0  # receipts published
        self.items_sent = 0

    def stored(self, node: str, message_id: str, stage: str) -> None:
        """A lifecycle message of `node` is committed at the hub (call after the commit)."""
        if stage not in STAGES or not message_id or len(message_id) > 128 or not node or "/" in node \
                or "+" in node or "#" in node:
            return  # not a message a node keeps for a receipt
        items = self._items.setdefault(node, {})
        self._since.setdefault(node, self.clock())
        items[(message_id, stage)] = None
        if len(items) >= self.max_items:
            self._send(node)

    def pending(self) -> int:
        return sum(len(items) for items in self._items.values())

    def flush(self, force: bool = False) -> int:
        """Send the batches that are due (all of them with `force`); returns how many receipts left."""
        now = self.clock()
        due = [node for node, since in self._since.items() if force or now - since >= self.max_delay_s]
        for node in due:
            self._send(node)
        return len(due)

    def _send(self, node: str) -> None:
        items = self._items.pop(node, {})
        self._since.pop(node, None)
        if not items:
            return
        receipt = Receipt(node=node, items=[ReceiptItem(id=i, stage=s) for i, s in items],
                          ts=utc_now_iso())
        self.publish(receipt_topic(self.prefix, node), receipt.model_dump_json().encode())
        self.sent += 1
        self.items_sent += len(items)
