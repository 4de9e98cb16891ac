"""The hub side: alert receiver, command signer (edge-hub)."""
