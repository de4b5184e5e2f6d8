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


NAMES = {"kafka": "Kafka", "s3": "S3", "opensearch": "OpenSearch"}


def _is_connection_error(error: BaseException) -> bool:
    # aiokafka's KafkaConnectionError and aiohttp's connector errors are OSErrors or name themselves so.
    return isinstance(error, OSError | TimeoutError) or "Connection" in type(error).__name__


def unreachable(component: str, error: BaseException) -> InfraError:
    """An error of a client library, named for people: which server, and what it said."""
    name = NAMES[component]
    detail = str(error) or type(error).__name__
    if _is_connection_error(error):
        return InfraError(component, f"{name}Unavailable", f"{name} unreachable: {detail}")
    return InfraError(
        component, f"{name}Error", f"{name} refused a request: {type(error).__name__}: {detail}"
    )
