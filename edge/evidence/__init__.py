"""Evidence: pre-roll buffer, clips, snapshots, signed and chained manifests, retention."""

from .buffer import EncodedFrame, PrerollBuffer
from .encoder import SoftwareEncoder
from .manifest import BundleProblem, verify_bundle
from .recorder import EvidenceRecorder
from .store import EvidenceStore

__all__ = ["BundleProblem", "EncodedFrame", "EvidenceRecorder", "EvidenceStore", "PrerollBuffer", "SoftwareEncoder",
           "verify_bundle"]
