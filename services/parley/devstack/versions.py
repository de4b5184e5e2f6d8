"""Every pinned version of the dev stack, in one place."""

POSTGRES_MAJOR = "15"
REDIS_MAJOR = "7"
