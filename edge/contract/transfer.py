"""The evidence upload's wire codes and topics: EMQX file transfer (async mode), which the node's
uploader (edge.link.upload) speaks and `edge-hub receive` answers.

`$file-async/{file_id}/init`, `$file-async/{file_id}/{offset}/{segment sha256}`,
`$file-async/{file_id}/fin/{size}/{sha256}` and `.../abort` go from the node; each is answered on
`$file-response/{client id}` with a `TransferResponse`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

RC_SUCCESS = 0x00  # done: the segment, the file (fin) or the abort is stored
RC_RESEND = 0x80  # send that segment again (for fin: the whole file)
RC_CANCEL = 0x83  # the receiver gave the transfer up (unknown command, broken init)
RC_REFUSED = 0x87  # refused for good (a verified bundle is immutable; a tamper attempt)
RC_QUOTA = 0x97  # wait: the receiver is out of room for now

TOPIC_ROOTS = ("$file-async", "$file")
SUBSCRIPTIONS = ("$file-async/#", "$file/#")


def response_topic(client_id: str) -> str:
    return f"$file-response/{client_id}"


class TransferResponse(BaseModel):
    """`$file-response/{client id}`: the receiver's answer to one command of a transfer."""

    model_config = ConfigDict(extra="allow", frozen=True)

    vsn: str = "0.1"
    topic: str = Field(description="the command topic this answers")
    packet_id: int = 0
    reason_code: int = Field(ge=0, le=255)
    reason_description: str = ""
