"""Smoke tests: the dev stack's OpenSearch indexes and searches through opensearch-py (async)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch

MESSAGES = [
    {"id": "1", "channel": "ops", "author": "ana", "body": "The deploy of the search service is done"},
    {"id": "2", "channel": "ops", "author": "bo", "body": "Rolling back the deploy, errors in the logs"},
    {"id": "3", "channel": "random", "author": "ana", "body": "Who wants to deploy lunch to my desk?"},
    {"id": "4", "channel": "ops", "author": "cy", "body": "Disk usage on the database host is fine"},
    {"id": "5", "channel": "design", "author": "bo", "body": "New logo drafts for the café wall"},
]


@pytest.fixture
async def client(opensearch_url: str) -> AsyncIterator[AsyncOpenSearch]:
    os_client = AsyncOpenSearch(hosts=[opensearch_url])
    yield os_client
    await os_client.close()


async def _index_messages(client: AsyncOpenSearch, index: str, body: dict[str, Any]) -> None:
    await client.indices.create(index=index, body=body)
    for message in MESSAGES:
        doc = {k: v for k, v in message.items() if k != "id"}
        await client.index(index=index, id=message["id"], body=doc, refresh=True)


MAPPINGS = {
    "properties": {
        "channel": {"type": "keyword"},
        "author": {"type": "keyword"},
        "body": {"type": "text", "analyzer": "standard"},
    }
}


async def test_match_with_bool_filter_and_highlight(client: AsyncOpenSearch, opensearch_prefix: str) -> None:
    index = f"{opensearch_prefix}messages"
    settings = {"number_of_shards": 1, "number_of_replicas": 0}
    await _index_messages(client, index, {"settings": settings, "mappings": MAPPINGS})

    result = await client.search(
        index=index,
        body={
            "query": {
                "bool": {
                    "must": [{"match": {"body": "DEPLOY"}}],
                    "filter": [{"term": {"channel": "ops"}}],
                }
            },
            "highlight": {"fields": {"body": {}}},
        },
    )
    hits = result["hits"]["hits"]
    assert sorted(h["_id"] for h in hits) == ["1", "2"]
    for hit in hits:
        assert any("<em>deploy</em>" in fragment for fragment in hit["highlight"]["body"])

    by_authors = await client.search(
        index=index,
        body={"query": {"bool": {"filter": [{"terms": {"author": ["ana", "cy"]}}]}}},
    )
    assert sorted(h["_id"] for h in by_authors["hits"]["hits"]) == ["1", "3", "4"]

    health = await client.cluster.health(index=index)
    assert health["status"] == "green"


async def test_modules_added_from_their_jars(client: AsyncOpenSearch, opensearch_prefix: str) -> None:
    """analysis-common (asciifolding, edge_ngram), mapper-extras and reindex are installed."""
    index = f"{opensearch_prefix}folded"
    body = {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "analysis": {
                "analyzer": {
                    "folded": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding"],
                    }
                }
            },
        },
        "mappings": {
            "properties": {
                **MAPPINGS["properties"],
                "body": {"type": "text", "analyzer": "folded"},
                "author_suggest": {"type": "search_as_you_type"},
            }
        },
    }
    await _index_messages(client, index, body)

    folded = await client.search(index=index, body={"query": {"match": {"body": "CAFE"}}})
    assert [h["_id"] for h in folded["hits"]["hits"]] == ["5"]

    grams = await client.indices.analyze(
        body={"tokenizer": {"type": "edge_ngram", "min_gram": 1, "max_gram": 3}, "text": "parley"}
    )
    assert [t["token"] for t in grams["tokens"]] == ["p", "pa", "par"]

    deleted = await client.delete_by_query(
        index=index, body={"query": {"term": {"channel": "ops"}}}, refresh=True
    )
    assert deleted["deleted"] == 3
    remaining = await client.count(index=index)
    assert remaining["count"] == 2
