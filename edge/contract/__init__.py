"""The typed node<->hub contract: messages on the wire, their topics and codes.

Imported by the node, the hub and the console's API alike, so that one definition says what a
message is.  The JSON Schemas under docs/schemas/ are generated from these models.
"""

from .messages import (
    CmdResult,
    CommandEnvelope,
    LifecycleMessage,
    OfficerPosition,
    OfficerTask,
    Stats,
    Status,
    TaskState,
)
from .receipt import HubBoot, Receipt, ReceiptItem, hub_boot_announcement, hub_boot_topic, receipt_topic

__all__ = ["CmdResult", "CommandEnvelope", "HubBoot", "LifecycleMessage", "OfficerPosition", "OfficerTask",
           "Receipt", "ReceiptItem", "Stats", "Status", "TaskState", "hub_boot_announcement", "hub_boot_topic",
           "receipt_topic"]
