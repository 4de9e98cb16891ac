"""Pixel-to-ground projection for a drone's gimbal camera, against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.geo import (
    EARTH_RADIUS_M,
    CameraPose,
    LocalFrame,
    Locator,
    frame_to_frame,
    ground_homography,
    haversine_m,
    pixel_to_ground,
    project,
)
from edge.telemetry import Pose

W, H = 1280, 720


def cam(heading=0.0, pitch=-90.0, altitude=60.0, hfov=90.0, east=0.0, north=0.0) -> CameraPose:
    return CameraPose(east, north, altitude, heading, pitch, hfov, W, H)


# With hfov 90 the focal length is 640 px: a pixel 640 px right of the centre is 45 degrees off axis.

def test_nadir_centre_edges_and_heading():
    assert pixel_to_ground(cam(), 640, 360) == pytest.approx((0, 0), abs=1e-9)
    # right edge: 45 degrees to the right of straight down = 60 m east (heading north: right is east)
    assert pixel_to_ground(cam(), 1280, 360) == pytest.approx((60, 0), abs=1e-9)
    # top edge: 360/640 forward of straight down: 60 * 0.5625 = 33.75 m north
    assert pixel_to_ground(cam(), 640, 0) == pytest.approx((0, 33.75), abs=1e-9)
    # heading east: forward (the top of the picture) is east, right is south
    assert pixel_to_ground(cam(heading=90), 640, 0) == pytest.approx((33.75, 0), abs=1e-9)
    assert pixel_to_ground(cam(heading=90), 1280, 360) == pytest.approx((0, -60), abs=1e-9)
    # offset camera position just shifts the ground point
    assert pixel_to_ground(cam(east=10, north=-5), 1280, 360) == pytest.approx((70, -5), abs=1e-9)


@pytest.mark.parametrize(("pitch", "north"), [(-45, 60.0), (-30, 60 / math.tan(math.radians(30))),
                                              (-60, 60 / math.tan(math.radians(60)))])
def test_oblique_centre_lands_altitude_over_tan_pitch(pitch, north):
    assert pixel_to_ground(cam(pitch=pitch), 640, 360) == pytest.approx((0, north), abs=1e-6)


def test_gimbal_pitch_and_rows():
    # pitch -45, bottom row: 45 + atan(360/640) below the horizon; tan = (1 + 0.5625) / (1 - 0.5625), so 16.8 m
    e, n = pixel_to_ground(cam(pitch=-45), 640, 720)
    assert e == pytest.approx(0, abs=1e-9) and n == pytest.approx(60 / math.tan(math.radians(45) + math.atan(0.5625)))
    assert n == pytest.approx(16.8, abs=1e-9)
    # top row: 45 - 29.36 = 15.64 degrees below the horizon; tan = 0.4375 / 1.5625, so 214.29 m
    assert pixel_to_ground(cam(pitch=-45), 640, 0)[1] == pytest.approx(60 * 1.5625 / 0.4375)
    # a level camera's upper half looks at the sky
    assert pixel_to_ground(cam(pitch=0), 640, 100) is None
    assert pixel_to_ground(cam(pitch=0), 640, 360) is None
    # heading west, pitch -45: the centre is 60 m west
    assert pixel_to_ground(cam(heading=270, pitch=-45), 640, 360) == pytest.approx((-60, 0), abs=1e-6)


def test_project_is_the_inverse_and_the_homography_agrees():
    rng = np.random.default_rng(4)
    for _ in range(50):
        pose = cam(heading=rng.uniform(0, 360), pitch=rng.uniform(-90, -20), altitude=rng.uniform(20, 120),
                   hfov=rng.uniform(40, 100), east=rng.uniform(-50, 50), north=rng.uniform(-50, 50))
        u, v = rng.uniform(0, W), rng.uniform(H * 0.3, H)
        ground = pixel_to_ground(pose, u, v)
        if ground is None:
            continue
        assert project(pose, *ground) == pytest.approx((u, v), abs=1e-6)
        p = ground_homography(pose) @ np.array([*ground, 1.0])
        assert (p[0] / p[2], p[1] / p[2]) == pytest.approx((u, v), abs=1e-6)


def test_frame_to_frame_moves_ground_points_with_the_camera():
    a = cam(heading=10, pitch=-60, east=0, north=0)
    b = cam(heading=25, pitch=-55, east=6, north=3, altitude=62)
    h = frame_to_frame(a, b)
    for east, north in [(5, 30), (-20, 40), (12, 20)]:
        pa, pb = project(a, east, north), project(b, east, north)
        q = h @ np.array([*pa, 1.0])
        assert (q[0] / q[2], q[1] / q[2]) == pytest.approx(pb, abs=1e-6)


def test_local_frame_and_haversine():
    frame = LocalFrame(29.61, 119.04)
    lat, lon = frame.to_latlon(100.0, -50.0)
    assert frame.to_enu(lat, lon) == pytest.approx((100.0, -50.0), abs=1e-3)
    assert haversine_m(29.61, 119.04, lat, lon) == pytest.approx(math.hypot(100, 50), rel=1e-3)
    assert haversine_m(0, 0, 1, 0) == pytest.approx(EARTH_RADIUS_M * math.pi / 180)  # one degree of latitude


def test_uncertainty_grows_away_from_nadir_and_with_the_sensor_errors():
    frame = LocalFrame(29.61, 119.04)
    pose = Pose(0.0, 29.61, 119.04, 60.0, 0.0, -90.0)
    loc = Locator(frame, 90.0, gps_sigma_m=2.5, altitude_sigma_m=2.0, attitude_sigma_deg=1.0)
    camera = loc.camera(pose, (W, H))
    centre = loc.locate(camera, 640, 360)
    # straight down: GPS, the tilt (60 m x 1 degree = 1.05 m) and two pixels' footprint (2 x 60/640 m)
    expected = math.sqrt(2.5 ** 2 + (60 * math.radians(1)) ** 2 + (2 * 60 / 640) ** 2)
    assert centre.uncertainty_m == pytest.approx(expected, rel=0.02)
    assert (centre.lat, centre.lon) == pytest.approx((29.61, 119.04), abs=1e-7)
    edge = loc.locate(camera, 1280, 360)
    assert edge.uncertainty_m > centre.uncertainty_m
    oblique = loc.locate(loc.camera(Pose(0.0, 29.61, 119.04, 60.0, 0.0, -30.0), (W, H)), 640, 200)
    assert oblique.uncertainty_m > 2 * centre.uncertainty_m  # far, grazing rays: tilt errors dominate
    careful = Locator(frame, 90.0, gps_sigma_m=0.5, altitude_sigma_m=0.5, attitude_sigma_deg=0.2)
    assert careful.locate(careful.camera(pose, (W, H)), 640, 360).uncertainty_m < centre.uncertainty_m
    assert loc.locate(loc.camera(Pose(0.0, 29.61, 119.04, 60.0, 0.0, 0.0), (W, H)), 640, 100) is None
