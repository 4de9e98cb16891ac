"""Export a case: one zip a legal reviewer checks with standard tools (`sha256sum -c SHA256SUMS` in
each bundle's folder and one `openssl pkeyutl -verify` of its manifest signature), plus a printable
summary page.  Only what the hub holds is exported, with the hub's current verdict written down."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from ..service import evidence as ev
from ..service.api.deps import User
from ..service.api.evidence import _keys
from ..service.api.incidents import detail
from .incident import timeline
from .web import hub_of, render, signed_in

router = APIRouter(prefix="/console/incidents", include_in_schema=False)

README = """Case {id}: incident {rule} at node {node}, zone {zone}.

Each folder bundles/BUNDLE/ holds the evidence exactly as the node signed it.  To check it:

  cd bundles/BUNDLE
  sha256sum -c SHA256SUMS                                   # every file, as listed in manifest.json
  openssl pkeyutl -verify -pubin -inkey ../../keys/{node}.pub -rawin -in manifest.json -sigfile manifest.sig

The first prints OK for each file; the second prints "Signature Verified Successfully".
summary.html is the printable summary; incident.json the hub's record (messages, audit trail, tasks).
The hub's own verdict when this zip was made: {verdict}.
"""


def build_zip(request: Request, incident: int, u: User) -> tuple[bytes, dict]:
    h = hub_of(request)
    found = detail(incident, h, u)
    buf = io.BytesIO()
    verdicts = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for b in found["evidence"]:
            check = ev.verification(h.evidence_root, _keys(h), b["node"], b["bundle"]) or {}
            verdicts.append(f"{b['bundle']}: {'verified' if check.get('verified') else 'NOT verified'}")
            folder = ev.folder_of(h.evidence_root, b["node"], b["bundle"])
            if folder is None:
                continue
            sums = []
            for entry in (check.get("manifest") or {}).get("files", []):
                path = folder / entry["name"]
                if path.is_file():
                    data = path.read_bytes()
                    z.writestr(f"bundles/{b['bundle']}/{entry['name']}", data)
                    sums.append(f"{hashlib.sha256(data).hexdigest()}  {entry['name']}")
            for name in ("manifest.json", "manifest.sig"):
                if (folder / name).is_file():
                    z.writestr(f"bundles/{b['bundle']}/{name}", (folder / name).read_bytes())
            z.writestr(f"bundles/{b['bundle']}/SHA256SUMS", "\n".join(sums) + "\n")
        key = _keys(h) / f"{found['node']}.pub"
        if key.is_file():
            z.writestr(f"keys/{found['node']}.pub", key.read_bytes())
        z.writestr("incident.json", json.dumps(found, ensure_ascii=False, indent=1, default=str))
        z.writestr("summary.html", summary_html(request, found, u))
        z.writestr("README.txt", README.format(verdict="; ".join(verdicts) or "no evidence", **found))
    return buf.getvalue(), found


def summary_html(request: Request, found: dict, u: User) -> str:
    return render(request, "summary.html", u, i=found, timeline=timeline(found)).body.decode()


@router.get("/{incident}/export.zip")
def export(request: Request, incident: int, u: User = Depends(signed_in)) -> Response:
    data, _ = build_zip(request, incident, u)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="case-{incident}.zip"'})


@router.get("/{incident}/summary", response_class=HTMLResponse)
def summary(request: Request, incident: int, u: User = Depends(signed_in)) -> HTMLResponse:
    return render(request, "summary.html", u, i=detail(incident, hub_of(request), u),
                  timeline=timeline(detail(incident, hub_of(request), u)))
