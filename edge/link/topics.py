"""MQTT topic names: defined in the contract (edge.contract.topics), shared with the hub."""

from ..contract.topics import HubTopics, Topics

__all__ = ["HubTopics", "Topics"]
