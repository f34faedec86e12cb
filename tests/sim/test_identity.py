"""Keystone auth, service catalog, version discovery and microversion negotiation."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime

import requests

from novaflow.sim.testing import SimHandle
from tests.sim.conftest import call, error


def _auth(sim: SimHandle, password: str) -> requests.Response:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "admin", "domain": {"name": "Default"}, "password": password}
                },
            },
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }
    }
    return requests.post(f"{sim.url}/identity/v3/auth/tokens", json=body, timeout=5)


def test_password_auth_returns_token_and_catalog(sim: SimHandle) -> None:
    resp = _auth(sim, "secret")
    assert resp.status_code == 201
    assert resp.headers["X-Subject-Token"]
    token = resp.json()["token"]
    assert token["project"]["name"] == "admin"
    assert {r["name"] for r in token["roles"]} >= {"admin"}
    endpoints = {
        s["type"]: {e["interface"]: e["url"] for e in s["endpoints"]} for s in token["catalog"]
    }
    assert endpoints["compute"]["public"] == f"{sim.url}/compute/v2.1"
    assert endpoints["placement"]["internal"] == f"{sim.url}/placement"
    assert endpoints["image"]["admin"] == f"{sim.url}/image"


def test_wrong_password_and_missing_token_are_401(sim: SimHandle) -> None:
    assert _auth(sim, "wrong").status_code == 401
    resp = requests.get(f"{sim.url}/compute/v2.1/servers", timeout=5)
    assert resp.status_code == 401
    assert "requires authentication" in resp.json()["error"]["message"]


def test_sdk_reauthenticates_after_tokens_expire(sim: SimHandle) -> None:
    conn = sim.connect()
    before = len(list(conn.compute.flavors()))
    sim.expire_tokens()
    assert len(list(conn.compute.flavors())) == before
    assert sim.stats()["requests"]["POST /identity/v3/auth/tokens"] == 2


def test_version_documents(sim: SimHandle) -> None:
    root = requests.get(f"{sim.url}/compute/", timeout=5).json()["versions"][0]
    assert (root["id"], root["min_version"], root["version"]) == ("v2.1", "2.1", "2.104")
    v21 = requests.get(f"{sim.url}/compute/v2.1/", timeout=5).json()["version"]
    assert v21["links"][0]["href"] == f"{sim.url}/compute/v2.1/"
    ident = requests.get(f"{sim.url}/identity", timeout=5)
    assert ident.status_code == 300
    assert ident.json()["versions"]["values"][0]["id"].startswith("v3")
    placement = requests.get(f"{sim.url}/placement/", timeout=5).json()["versions"][0]
    assert placement["max_version"] >= "1.20"


def test_microversion_is_echoed_in_both_header_forms(sim: SimHandle) -> None:
    conn = sim.connect()
    resp = call(conn, "GET", "/flavors", "2.53")
    assert resp.headers["OpenStack-API-Version"] == "compute 2.53"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.53"
    assert "OpenStack-API-Version" in resp.headers["Vary"]
    legacy = conn.compute.get("/flavors", headers={"X-OpenStack-Nova-API-Version": "2.30"})
    assert legacy.headers["OpenStack-API-Version"] == "compute 2.30"
    latest = call(conn, "GET", "/flavors", "latest")
    assert latest.headers["X-OpenStack-Nova-API-Version"] == "2.104"
    plain = conn.compute.get("/flavors")
    assert plain.headers["X-OpenStack-Nova-API-Version"] in ("2.1", "2.96")


def test_out_of_range_microversion_is_406(sim: SimHandle) -> None:
    conn = sim.connect()
    resp = call(conn, "GET", "/servers", "2.105")
    status, _, message = error(resp)
    assert status == 406
    assert "Minimum is 2.1 and maximum is 2.104" in message


def test_a_capped_sim_plays_an_older_nova(make_sim: Callable[..., SimHandle]) -> None:
    sim = make_sim(hosts=2, instances=2, max_microversion="2.55")
    root = requests.get(f"{sim.url}/compute/", timeout=5).json()["versions"][0]
    assert root["version"] == "2.55"
    conn = sim.connect()
    assert call(conn, "GET", "/flavors", "latest").headers["OpenStack-API-Version"] == (
        "compute 2.55"
    )
    status, _, message = error(call(conn, "GET", "/servers", "2.56"))
    assert status == 406 and "maximum is 2.55" in message


def test_date_header_is_the_simulated_clock(make_sim: Callable[..., SimHandle]) -> None:
    sim = make_sim(hosts=2, instances=2, time_scale=0)
    conn = sim.connect()
    sim.advance(7200)
    date = parsedate_to_datetime(conn.compute.get("/flavors").headers["Date"])
    assert date == sim.state.time(7200)
