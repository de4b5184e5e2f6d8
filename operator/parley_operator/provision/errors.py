"""Failures of the servers outside the cluster, carried to a status condition instead of a crash."""

from __future__ import annotations

from parley_operator.api.status import InfrastructureProblem


class InfraError(Exception):
    def __init__(self, component: str, reason: str, message: str) -> None:
        super().__init__(f"{component}: {message}")
        self.component = component
        self.reason = reason
        self.message = message

    def problem(self) -> InfrastructureProblem:
        return InfrastructureProblem(component=self.component, reason=self.reason, message=self.message)


def unreachable(component: str, error: BaseException) -> InfraError:
    """An error of a client library, named for people: which server, and what it said."""
    reason = {"kafka": "KafkaUnavailable", "s3": "S3Unavailable", "opensearch": "OpenSearchUnavailable"}
    detail = str(error) or type(error).__name__
    return InfraError(component, reason[component], f"{component} unreachable or failing: {detail}")
