"""Loopback ports of the dev stack, in one place; chosen away from the servers' usual defaults
so a system-wide PostgreSQL or Redis on the same machine does not collide with ours."""

HOST = "127.0.0.1"

POSTGRES = 15432
REDIS = 16379
