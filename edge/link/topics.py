"""MQTT topic names (the contract in DESIGN): {prefix}/{node}/status|alert|stats|cmd/{name}|cmd_result."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str
    node: str

    def _t(self, leaf: str) -> str:
        return f"{self.prefix}/{self.node}/{leaf}"

    @property
    def status(self) -> str:
        return self._t("status")

    @property
    def alert(self) -> str:
        return self._t("alert")

    @property
    def stats(self) -> str:
        return self._t("stats")

    @property
    def cmd_result(self) -> str:
        return self._t("cmd_result")

    @property
    def receipt(self) -> str:
        """The hub's end-to-end receipts for this node's lifecycle messages (see edge.contract)."""
        return self._t("receipt")

    @property
    def hub_boot(self) -> str:
        """The hub's retained start announcement (edge.contract.receipt.HubBoot): not below the node."""
        return f"{self.prefix}/hub/boot"

    @property
    def commands(self) -> str:
        """The subscription filter for every command to this node."""
        return self._t("cmd/+")

    def command(self, name: str) -> str:
        return self._t(f"cmd/{name}")

    def command_name(self, topic: str) -> str | None:
        head = self._t("cmd/")
        return topic[len(head):] if topic.startswith(head) else None
