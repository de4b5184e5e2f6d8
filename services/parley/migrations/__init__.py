"""The platform's one schema history (Alembic), shared by every service that owns tables.

`parley migrate` runs it; on Kubernetes the operator runs the same command as a Job before a
version rolls out. Each service adds its tables as new revisions on the one chain.
"""
