"""A search app per test: its own copy of the migrated database, its own Kafka topics (events topic
with two partitions), its own OpenSearch index prefix; users written straight into the user
directory with real RS256 tokens. Messages are stored the way the consumer stores them
(common.chat.store) and their stored events produced to the events topic, as the consumer does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opensearchpy import AsyncOpenSearch
from parley.common.chat.store import Stored, store_commands
from parley.common.events import StoredEventType, encode
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.common.topics import Topics, chat_key
from parley.search.app import create_app
from parley.search.index import IndexNames
from parley.search.settings import SearchSettings
from parley.testing.tokens import ISSUER, Signer, StaticJwks
from parley.testing.waiting import eventually

from tests.factories import Person, database

BASE_URL = "http://search.test"


@pytest.fixture
async def topics(kafka_bootstrap: str, kafka_topic_prefix: str) -> Topics:
    topics = Topics(kafka_topic_prefix.rstrip("-"))
    await ensure_topics(kafka_bootstrap, [topics.events], partitions=2)
    return topics


@pytest.fixture
def settings(
    migrated_dsn: str, kafka_bootstrap: str, topics: Topics, opensearch_url: str, opensearch_prefix: str
) -> SearchSettings:
    return SearchSettings(
        postgres_dsn=migrated_dsn,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic_prefix=topics.prefix,
        opensearch_url=opensearch_url,
        search_index_prefix=opensearch_prefix.rstrip("-"),
        auth_issuer=ISSUER,
        search_db_pool_size=4,
        search_refresh_interval="200ms",
        search_retry_max_seconds=1.0,
    )


@pytest.fixture
async def app(settings: SearchSettings, signer: Signer) -> AsyncIterator[FastAPI]:
    app = create_app(settings, jwks=StaticJwks(signer))
    async with LifespanManager(app, startup_timeout=60):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        yield c


@pytest.fixture
async def opensearch(opensearch_url: str) -> AsyncIterator[AsyncOpenSearch]:
    client = AsyncOpenSearch(hosts=[opensearch_url])
    yield client
    await client.close()


@pytest.fixture
def names(settings: SearchSettings) -> IndexNames:
    return IndexNames(settings.index_prefix)


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[KafkaProducer]:
    producer = KafkaProducer(kafka_bootstrap, client_id="search-tests")
    yield producer
    await producer.stop()


Publish = Callable[[list[StoredEventType]], Awaitable[None]]
Store = Callable[..., Awaitable[list[StoredEventType]]]


@pytest.fixture
def publish(producer: KafkaProducer, topics: Topics) -> Publish:
    async def publish(events: list[StoredEventType]) -> None:
        await producer.send_many([(topics.events, chat_key(e.chat_id), encode(e)) for e in events])

    return publish


@pytest.fixture
def store(app: FastAPI, publish: Publish) -> Store:
    """Store commands as the consumer does, then produce their events to the events topic."""

    async def store(*commands: Any) -> list[StoredEventType]:
        async with database(app).engine.begin() as conn:
            outcomes = await store_commands(conn, list(commands))
        assert all(isinstance(o, Stored) for o in outcomes), outcomes
        events = [o.event for o in outcomes if isinstance(o, Stored)]
        await publish(events)
        return events

    return store


Search = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def search(client: httpx.AsyncClient) -> Search:
    async def search(who: Person, q: str, *, status: int = 200, **params: Any) -> dict[str, Any]:
        response = await client.get("/search", params={"q": q, **params}, headers=who.auth)
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body

    return search


def bodies(page: dict[str, Any]) -> list[str]:
    return [hit["body"] for hit in page["results"]]


async def found(
    search: Search, who: Person, q: str, want: Callable[[list[str]], bool], **params: Any
) -> list[str]:
    """Search until `want` holds for the bodies found (indexing is asynchronous)."""
    result, _ = await eventually(
        lambda: search(who, q, **params), lambda page: want(bodies(page)), within=30, every=0.2, what=q
    )
    return bodies(result)
