"""A hub-side test client that stores what arrives and receipts each lifecycle message, the way
`edge-hub listen` does (through edge.hub.receipts), so tests of the node's link see its rows leave."""

from __future__ import annotations

import json
import threading

from edge.hub.receipts import ReceiptBatcher

from .broker import Broker, Subscriber


class ReceiptingHub(Subscriber):
    def __init__(self, broker: Broker, topics: list[str] | None = None, client_id: str = "test-hub-receipts",
                 **kwargs):
        super().__init__(broker, topics or ["edge/+/alert"], client_id, **kwargs)
        self.receipting = True  # False: the hub stores nothing and says nothing (it is "down")
        self._lock = threading.Lock()
        self.batcher = ReceiptBatcher(lambda t, p: self.client.publish(t, p, qos=1), max_delay_s=0.05)
        self._stop = threading.Event()
        self.client.on_message = self._store
        self._thread = threading.Thread(target=self._flush, daemon=True)
        self._thread.start()

    def _store(self, client, userdata, m) -> None:
        if not self.receipting:
            return
        self.messages.append((m.topic, m.payload, m.retain))
        if m.topic.endswith("/alert"):
            body = json.loads(m.payload)
            with self._lock:
                self.batcher.stored(m.topic.split("/")[-2], body["id"], body["stage"])

    def _flush(self) -> None:
        while not self._stop.wait(0.02):
            with self._lock:
                self.batcher.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        super().close()
