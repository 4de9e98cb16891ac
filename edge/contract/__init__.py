"""The typed node<->hub contract: messages on the wire, their topics and codes.

Imported by the node, the hub and the console's API alike, so that one definition says what a
message is.  The JSON Schemas under docs/schemas/ are generated from these models.
"""

from .receipt import Receipt, ReceiptItem, receipt_topic

__all__ = ["Receipt", "ReceiptItem", "receipt_topic"]
