"""MQTT topic names, for the node (`Topics`: its own topics) and the hub (`HubTopics`: every node's).

The contract in DESIGN: `{prefix}/{node}/status|alert|stats|cmd/{name}|cmd_result|receipt`, the
hub's retained `{prefix}/hub/boot`, and the officer devices' `{prefix}/officer/{id}/...`.  Nothing
else builds these strings by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

HUB = "hub"  # a reserved node id: `{prefix}/hub/...` is never a node's


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
        return f"{self.prefix}/{HUB}/boot"

    @property
    def commands(self) -> str:
        """The subscription filter for every command to this node."""
        return self._t("cmd/+")

    def command(self, name: str) -> str:
        return self._t(f"cmd/{name}")

    def command_name(self, topic: str) -> str | None:
        head = self._t("cmd/")
        return topic[len(head):] if topic.startswith(head) else None


@dataclass(frozen=True)
class HubTopics:
    """What the hub subscribes to and publishes on, across every node."""

    prefix: str = "edge"

    def node(self, node: str) -> Topics:
        return Topics(self.prefix, node)

    @property
    def alerts(self) -> str:
        return f"{self.prefix}/+/alert"

    @property
    def statuses(self) -> str:
        return f"{self.prefix}/+/status"

    @property
    def stats(self) -> str:
        return f"{self.prefix}/+/stats"

    @property
    def cmd_results(self) -> str:
        return f"{self.prefix}/+/cmd_result"

    @property
    def boot(self) -> str:
        return f"{self.prefix}/{HUB}/boot"

    def officer(self, officer: str, leaf: str) -> str:
        """`position`, `task` or `task_state` of one officer's device ("+" for all)."""
        return f"{self.prefix}/officer/{officer}/{leaf}"

    @staticmethod
    def shared(group: str | None, topic: str) -> str:
        """An MQTT 5 shared subscription `$share/GROUP/topic` (the topic itself without a group)."""
        return f"$share/{group}/{topic}" if group else topic

    def split(self, topic: str) -> tuple[str, str] | None:
        """(node, leaf) of a node topic `{prefix}/{node}/{leaf}`, or None for any other topic."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        node, sep, leaf = topic[len(head):].partition("/")
        if not sep or not leaf or "/" in leaf or node in ("", HUB, "officer"):
            return None
        return node, leaf
