"""The fleet simulator: many real nodes, one hub, faults on a schedule (`edge-sim fleet`, docs/fleet.md)."""
