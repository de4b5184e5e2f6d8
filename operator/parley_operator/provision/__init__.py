"""External resources of an installation: Kafka topics, the S3 bucket, the OpenSearch index.

Each provisioner is idempotent; a failure of one never stops the others and is reported as a
problem (a condition in the status), never raised to crash the operator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from parley_operator.api.spec import ChatPlatformSpec
from parley_operator.api.status import InfrastructureProblem, InfrastructureStatus
from parley_operator.names import Installation
from parley_operator.provision.errors import InfraError
from parley_operator.provision.kafka import KafkaTopics, wanted_topics
from parley_operator.provision.opensearch import SearchIndex, wanted_index
from parley_operator.provision.s3 import S3Bucket, S3Credentials, wanted_bucket

SecretReader = Callable[[str, str], Awaitable[str]]
"""(secret name, key) -> value, from the platform's namespace; raises InfraError when missing."""


@dataclass(frozen=True)
class Connections:
    kafka_bootstrap: str
    s3: S3Credentials
    opensearch_url: str


async def read_connections(spec: ChatPlatformSpec, read: SecretReader) -> Connections:
    s3 = spec.s3
    return Connections(
        kafka_bootstrap=spec.kafka.bootstrap_servers,
        s3=S3Credentials(
            endpoint=await read(s3.secret_name, s3.endpoint_key),
            access_key=await read(s3.secret_name, s3.access_key_key),
            secret_key=await read(s3.secret_name, s3.secret_key_key),
        ),
        opensearch_url=await read(spec.opensearch.secret_name, spec.opensearch.url_key),
    )


async def _guarded(work: Awaitable[list[InfrastructureProblem] | None]) -> list[InfrastructureProblem]:
    try:
        return (await work) or []
    except InfraError as error:
        return [error.problem()]


def infrastructure_names(spec: ChatPlatformSpec, inst: Installation) -> InfrastructureStatus:
    return InfrastructureStatus(
        topic_prefix=inst.prefix, bucket=wanted_bucket(spec, inst).name, index_alias=inst.messages_alias
    )


async def provision(spec: ChatPlatformSpec, inst: Installation, read: SecretReader) -> InfrastructureStatus:
    """Brings topics, bucket and index to the spec; the result goes to status.infrastructure."""
    status = infrastructure_names(spec, inst)
    status.checked = True
    try:
        conn = await read_connections(spec, read)
    except InfraError as error:
        status.problems = [error.problem()]
        return status
    results = await asyncio.gather(
        _guarded(KafkaTopics(conn.kafka_bootstrap).ensure(wanted_topics(spec, inst))),
        _guarded(_ensure_bucket(spec, inst, conn)),
        _guarded(_ensure_index(spec, inst, conn)),
    )
    status.problems = [problem for found in results for problem in found]
    return status


async def _ensure_bucket(
    spec: ChatPlatformSpec, inst: Installation, conn: Connections
) -> list[InfrastructureProblem]:
    return await S3Bucket(conn.s3, spec.s3.region).ensure(wanted_bucket(spec, inst))


async def _ensure_index(spec: ChatPlatformSpec, inst: Installation, conn: Connections) -> None:
    await SearchIndex(conn.opensearch_url).ensure(wanted_index(spec, inst))


async def _delete_bucket(spec: ChatPlatformSpec, inst: Installation, conn: Connections) -> None:
    await S3Bucket(conn.s3, spec.s3.region).delete(wanted_bucket(spec, inst).name)


async def _delete_index(spec: ChatPlatformSpec, inst: Installation, conn: Connections) -> None:
    await SearchIndex(conn.opensearch_url).delete(wanted_index(spec, inst))


async def deprovision(
    spec: ChatPlatformSpec, inst: Installation, read: SecretReader
) -> list[InfrastructureProblem]:
    """Removes topics, bucket and index (deletionPolicy Delete); returns what could not be removed."""
    try:
        conn = await read_connections(spec, read)
    except InfraError as error:
        return [error.problem()]
    results = await asyncio.gather(
        _guarded(KafkaTopics(conn.kafka_bootstrap).delete([t.name for t in wanted_topics(spec, inst)])),
        _guarded(_delete_bucket(spec, inst, conn)),
        _guarded(_delete_index(spec, inst, conn)),
    )
    return [problem for found in results for problem in found]
