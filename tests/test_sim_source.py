"""sim: source: the simulator as a camera, on the scenario's own clock."""

from __future__ import annotations

import numpy as np
import pytest

from edge.capture import SourceError, SourceState, open_source
from simulator.render import Renderer
from simulator.scenario import load_scenario

from .conftest import SCENARIOS

SCENARIO = SCENARIOS / "reservoir_day_angler.toml"


def test_sim_source_in_lockstep_is_the_renderer_on_the_scenario_clock():
    scenario = load_scenario(SCENARIO)
    renderer = Renderer(scenario)
    with open_source(f"sim:{SCENARIO}?realtime=0") as source:
        frames = [source.read(timeout=10) for _ in range(12)]
    assert all(f is not None for f in frames)
    for i in (0, 5, 11):
        assert np.array_equal(frames[i].image, renderer.render(i).image)
    start = scenario.start.timestamp()
    assert [round(f.wall - start, 6) for f in frames] == [round(i / scenario.fps, 6) for i in range(12)]
    assert np.allclose(np.diff([f.mono for f in frames]), 1 / scenario.fps)
    assert frames[0].image.shape == (scenario.size[1], scenario.size[0], 3)


SHORT = """
[scenario]
name = "short_walk"
site = "reservoir"
seed = 3
duration_s = 2
fps = 5
size = [320, 180]
start = 2026-04-10T21:30:00+08:00
lighting = "night"

[[actors]]
id = "walker"
kind = "person"
path = [[0, 0.1, 0.85], [2, 0.3, 0.85]]
"""


def test_sim_source_ends_with_the_scenario(tmp_path):
    short = tmp_path / "short.toml"
    short.write_text(SHORT)
    scenario = load_scenario(short)
    with open_source(f"sim:{short}?realtime=0") as source:
        count = 0
        while source.read(timeout=10) is not None:
            count += 1
        assert source.state == SourceState.ENDED
    assert count == scenario.n_frames


def test_a_broken_scenario_is_a_clear_error_at_start(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.read_text() + "\nbogus_key = 1\n")
    with pytest.raises(SourceError) as info:
        open_source(f"sim:{bad}").start()
    assert str(bad) in str(info.value) and "bogus_key" in str(info.value)
    with pytest.raises(SourceError, match="not found"):
        open_source(f"sim:{tmp_path / 'nope.toml'}").start()


def test_shipped_profile_zones_are_the_simulated_regions():
    """The reservoir and market profiles watch exactly the areas the simulator draws."""
    from edge.config import load_profile
    from simulator.sites import get_site

    from .conftest import PROFILES

    pairs = {
        ("reservoir.toml", "reservoir"): {"shore": "shore", "water": "water"},
        ("market.toml", "market"): {"no_stall": "near_sidewalk", "fire_lane": "fire_lane"},
    }
    for (profile_name, site), zone_to_region in pairs.items():
        zones = {z.name: z.polygon for z in load_profile(PROFILES / profile_name).zones}
        regions = get_site(site).regions
        for zone, region in zone_to_region.items():
            assert np.allclose(np.array(zones[zone], float), np.array(regions[region], float)), (profile_name, zone)
