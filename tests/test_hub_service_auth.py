"""The login rate limit is the store's, not a worker's: two `serve` instances on one store (SQLite
file or PostgreSQL) share it, so a guesser gets no more attempts by spreading them over workers,
and a right password does not get through while the name is limited."""

from __future__ import annotations

from edge.hub.service import auth

from .hub_rig import RunningHub, mosquitto, store_url  # noqa: F401


def test_two_workers_on_one_store_share_the_login_rate_limit(tmp_path, mosquitto, store_url):  # noqa: F811
    one = RunningHub(tmp_path / "one", mosquitto, store_url)
    two = RunningHub(tmp_path / "two", mosquitto, store_url)
    try:
        auth.add_user(one.db, "ann", "the right password", "viewer")
        a, b = one.client(), two.client()

        def attempt(c, password="a wrong guess"):
            return c.post("/api/login", json={"username": "ann", "password": password})

        codes = [attempt(a).status_code for _ in range(3)] + [attempt(b).status_code for _ in range(2)]
        assert codes == [401] * 5  # five attempts per minute (the test config), spread over both workers
        refused = attempt(b)
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
        assert attempt(a, "the right password").status_code == 429  # the other worker knows it too
        # Another user name from the same address is limited by the address count, which is shared too.
        auth.add_user(one.db, "bob", "bob's right password", "viewer")
        assert two.client().post("/api/login", json={"username": "bob", "password": "bob's right password"}
                                 ).status_code == 429
        # A third instance started later on the same store starts from the same count.
        three = RunningHub(tmp_path / "three", mosquitto, store_url)
        try:
            assert attempt(three.client(), "the right password").status_code == 429
        finally:
            three.stop()
    finally:
        two.stop()
        one.stop()
