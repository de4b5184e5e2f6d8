"""The installation's OpenSearch index template (`<namespace>.<platform>.messages`), and the
deletion of its indices with the platform.

Ownership (docs/search.md): the search service owns the messages index: its analyzers and mapping
(one definition, in the service), every index generation (`….messages-NNNNNN`, the first made at
the service's start, the next ones by `parley search reindex`) and the alias `….messages` it swaps.
The operator never imports the services, so it holds no copy of the mapping: its template carries
only what the ChatPlatform says (shards, replicas) for the generations' name pattern, and deletion
removes the pattern. The bodies and the plan are pure; `SearchIndex` is the thin client part
(opensearch-py, async).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from opensearchpy import AsyncOpenSearch

from parley_operator.api.spec import ChatPlatformSpec
from parley_operator.names import Installation
from parley_operator.provision.errors import InfraError, unreachable


@dataclass(frozen=True)
class IndexWant:
    template: str
    pattern: str
    alias: str
    shards: int
    replicas: int


def wanted_index(spec: ChatPlatformSpec, inst: Installation) -> IndexWant:
    return IndexWant(
        template=inst.messages_template,
        pattern=inst.messages_pattern,
        alias=inst.messages_alias,
        shards=spec.opensearch.number_of_shards,
        replicas=spec.opensearch.number_of_replicas,
    )


def template_body(want: IndexWant) -> dict[str, Any]:
    """Settings only: the mapping and analyzers come with each index the search service creates."""
    return {
        "index_patterns": [want.pattern],
        "template": {"settings": {"number_of_shards": want.shards, "number_of_replicas": want.replicas}},
        "_meta": {"managed_by": "parley-operator", "mappings_from": "the search service"},
    }


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
                # PUT is idempotent: the template follows the spec's shard and replica counts (for
                # generations created from now on).
                await client.indices.put_index_template(name=want.template, body=template_body(want))
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
