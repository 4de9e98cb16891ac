"""Model rollout on the node: a signed model folder from the hub is fetched, verified, loaded in a
second session, self-tested on recent frames and switched in between two frames; the previous model
is kept, and a failed load, a failed self-test, repeated crashes or `model rollback` bring it back."""

from .signature import SIGNATURE, RolloutError, sign_manifest, verify_manifest

__all__ = ["SIGNATURE", "RolloutError", "sign_manifest", "verify_manifest"]
