"""Parley's own services as dev stack processes: started from the stack, reachable, doing real work."""

from __future__ import annotations

import uuid

import httpx
from parley.devstack.stack import Stack


def test_auth_service_runs_as_a_process_against_the_stack(dev_stack: Stack) -> None:
    url = dev_stack.up(["svc-auth"])["svc-auth"]["url"]
    jwks = httpx.get(f"{url}/.well-known/jwks.json", timeout=5).json()
    assert jwks["keys"] and all(key["kty"] == "RSA" and key["kid"] for key in jwks["keys"])
    # Register and log in: the process was migrated against the stack's PostgreSQL and uses it.
    name = f"dev{uuid.uuid4().hex[:10]}"
    password = "correct horse battery staple"
    registered = httpx.post(
        f"{url}/auth/register",
        json={"username": name, "email": f"{name}@example.org", "password": password},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    login = httpx.post(f"{url}/auth/login", json={"login": name, "password": password}, timeout=30)
    assert login.status_code == 200, login.text
    me = httpx.get(
        f"{url}/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}, timeout=5
    )
    assert me.json()["username"] == name
