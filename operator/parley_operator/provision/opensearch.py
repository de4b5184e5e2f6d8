"""The installation's OpenSearch index template, first index and alias (`<namespace>.<platform>.messages`).

The bodies and the plan are pure; `SearchIndex` is the thin client part (opensearch-py, async).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from opensearchpy import AsyncOpenSearch

from parley_operator.api.spec import ChatPlatformSpec
from parley_operator.names import Installation
from parley_operator.provision.errors import InfraError, unreachable

# The fields the search service indexes from stored events; other fields are mapped dynamically.
MESSAGE_MAPPINGS: dict[str, Any] = {
    "dynamic": True,
    "properties": {
        "message_id": {"type": "keyword"},
        "chat_id": {"type": "keyword"},
        "seq": {"type": "long"},
        "sender_id": {"type": "keyword"},
        "body": {"type": "text", "analyzer": "standard"},
        "attachment_names": {"type": "text", "analyzer": "standard"},
        "created_at": {"type": "date"},
        "edited_at": {"type": "date"},
        "deleted": {"type": "boolean"},
    },
}


@dataclass(frozen=True)
class IndexWant:
    template: str
    pattern: str
    alias: str
    first_index: str
    shards: int
    replicas: int


class IndexStep(StrEnum):
    CREATE_INDEX_WITH_ALIAS = "CreateIndexWithAlias"
    ADD_ALIAS = "AddAlias"
    NOTHING = "Nothing"


def wanted_index(spec: ChatPlatformSpec, inst: Installation) -> IndexWant:
    return IndexWant(
        template=inst.messages_template,
        pattern=inst.messages_pattern,
        alias=inst.messages_alias,
        first_index=inst.messages_index(1),
        shards=spec.opensearch.number_of_shards,
        replicas=spec.opensearch.number_of_replicas,
    )


def template_body(want: IndexWant) -> dict[str, Any]:
    return {
        "index_patterns": [want.pattern],
        "template": {
            "settings": {"number_of_shards": want.shards, "number_of_replicas": want.replicas},
            "mappings": MESSAGE_MAPPINGS,
        },
        "_meta": {"managed_by": "parley-operator"},
    }


def index_step(alias_exists: bool, first_index_exists: bool) -> IndexStep:
    """The alias is what the search service writes to; once it exists (on whichever index, after a
    reindex perhaps) the operator leaves it alone."""
    if alias_exists:
        return IndexStep.NOTHING
    if first_index_exists:
        return IndexStep.ADD_ALIAS
    return IndexStep.CREATE_INDEX_WITH_ALIAS


class SearchIndex:
    def __init__(self, url: str, timeout: float = 20.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise InfraError("opensearch", "InvalidEndpoint", f"OpenSearch URL is not http(s): {url!r}")
        self.url = url
        self.timeout = timeout

    def _client(self) -> AsyncOpenSearch:
        return AsyncOpenSearch(hosts=[self.url], timeout=self.timeout, max_retries=0)

    async def ensure(self, want: IndexWant) -> None:
        client = self._client()
        try:
            async with asyncio.timeout(self.timeout * 3):
                # PUT is idempotent: the template follows the spec's shard and replica counts.
                await client.indices.put_index_template(name=want.template, body=template_body(want))
                step = index_step(
                    bool(await client.indices.exists_alias(name=want.alias)),
                    bool(await client.indices.exists(index=want.first_index)),
                )
                if step is IndexStep.CREATE_INDEX_WITH_ALIAS:
                    await client.indices.create(
                        index=want.first_index, body={"aliases": {want.alias: {"is_write_index": True}}}
                    )
                elif step is IndexStep.ADD_ALIAS:
                    await client.indices.put_alias(
                        index=want.first_index, name=want.alias, body={"is_write_index": True}
                    )
        except InfraError:
            raise
        except Exception as error:
            raise unreachable("opensearch", error) from error
        finally:
            await client.close()

    async def delete(self, want: IndexWant) -> None:
        client = self._client()
        try:
            async with asyncio.timeout(self.timeout * 3):
                await client.indices.delete(index=want.pattern, ignore_unavailable=True)
                if await client.indices.exists_index_template(name=want.template):
                    await client.indices.delete_index_template(name=want.template)
        except Exception as error:
            raise unreachable("opensearch", error) from error
        finally:
            await client.close()
