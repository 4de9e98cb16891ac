"""The typed node<->hub contract: messages on the wire, their topics and codes.

- messages.py  lifecycle (alert), status, stats, cmd_result, the command envelope, officer devices
- commands.py  one args model per command (`ARGS`), deprecated argument names
- receipt.py   the hub's receipts and its start announcement
- topics.py    `Topics` (one node's) and `HubTopics` (every node's, for the hub)
- transfer.py  the evidence upload's reason codes and response topic
- timefmt.py   the one time-stamp format
- schemas.py   `python -m edge.contract.schemas` writes docs/schemas/ from the models

Imported by the node, the hub and the console's API alike, so that one definition says what a
message is.  The JSON Schemas under docs/schemas/ are generated from these models.
"""

from .commands import ARGS as COMMAND_ARGS
from .commands import CommandArgs
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
from .timefmt import TIME_PATTERN, iso, now_iso
from .topics import HubTopics, Topics

__all__ = ["COMMAND_ARGS", "TIME_PATTERN", "CmdResult", "CommandArgs", "CommandEnvelope", "HubBoot", "HubTopics",
           "LifecycleMessage", "OfficerPosition", "OfficerTask", "Receipt", "ReceiptItem", "Stats", "Status",
           "TaskState", "Topics", "hub_boot_announcement", "hub_boot_topic", "iso", "now_iso", "receipt_topic"]
