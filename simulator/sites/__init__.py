"""Site templates: region polygons (a contract with zone configs), perspective law, background."""

from simulator.sites.base import Background, Site
from simulator.sites.market import Market
from simulator.sites.reservoir import Reservoir

SITES: dict[str, Site] = {"reservoir": Reservoir(), "market": Market()}


def get_site(name: str) -> Site:
    return SITES[name]


__all__ = ["SITES", "Background", "Site", "get_site"]
