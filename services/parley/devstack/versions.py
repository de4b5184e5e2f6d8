"""Every pinned version of the dev stack, in one place."""

POSTGRES_MAJOR = "15"
REDIS_MAJOR = "7"

# S3: versitygw (Apache-2.0), `go install`ed from its module.
VERSITYGW = "v1.7.0"
