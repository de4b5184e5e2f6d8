"""`parley serve search`: the indexer runs in the app's lifespan; HTTP serves `GET /search`."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
import sqlalchemy as sa
from fastapi import FastAPI, Query, Request
from opensearchpy import AsyncOpenSearch, RequestError
from pydantic import BaseModel, Field

from parley.common.auth import CurrentUser, JwksSource, start_verifier
from parley.common.chat.access import readable_chat_ids
from parley.common.db import Database
from parley.common.errors import ApiError
from parley.common.health import DatabasePing, Health, KafkaPing, check, task_running
from parley.common.kafka import ensure_topics
from parley.common.service import new_app, running
from parley.common.telemetry import Metrics
from parley.common.topics import Topics
from parley.common.users.directory import username_key, users
from parley.search.index import IndexNames, ensure_index
from parley.search.indexer import Indexer, IndexerMetrics
from parley.search.query import InvalidQuery, ParsedQuery, bool_query, parse
from parley.search.settings import SearchSettings

log = logging.getLogger(__name__)

Sort = Literal["relevance", "newest"]


class SearchHit(BaseModel):
    chat_id: uuid.UUID
    seq: int
    sender_id: uuid.UUID
    body: str
    created_at: datetime
    edited_at: datetime | None = None
    has_attachment: bool
    highlights: list[str] = Field(
        description="Fragments of the body with matches in <mark>…</mark> (HTML-escaped)."
    )
    score: float | None = Field(description="Relevance (null when sorted by time).")


class SearchPage(BaseModel):
    results: list[SearchHit]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: no more.")


class SearchUnavailable(ApiError):
    status_code = 503
    code = "search_unavailable"


def open_client(settings: SearchSettings) -> AsyncOpenSearch:
    return AsyncOpenSearch(
        hosts=[settings.opensearch_url.get_secret_value()],
        timeout=settings.search_timeout_seconds,
        max_retries=1,
    )


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, sort: Sort) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidQuery("The cursor is not one this service gave out.", code="invalid_cursor") from None
    size = 3 if sort == "relevance" else 2
    if (
        not isinstance(values, list)
        or len(values) != size
        or not all(isinstance(v, int | float) for v in values[:-1])
        or not isinstance(values[-1], str)
    ):
        raise InvalidQuery("The cursor is not one this service gave out.", code="invalid_cursor")
    return values


async def _sender_ids(db: Database, senders: list[str]) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    names: list[str] = []
    for sender in senders:
        try:
            ids.append(uuid.UUID(sender))
        except ValueError:
            names.append(username_key(sender))
    if names:
        async with db.engine.connect() as conn:
            ids += (
                await conn.execute(sa.select(users.c.id).where(users.c.username_key.in_(names)))
            ).scalars()
    return ids


async def run_search(
    *,
    db: Database,
    client: AsyncOpenSearch,
    names: IndexNames,
    me: uuid.UUID,
    q: ParsedQuery,
    sort: Sort,
    limit: int,
    cursor: str | None,
) -> SearchPage:
    after = _decode_cursor(cursor, sort) if cursor else None
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        chat_ids = await readable_chat_ids(conn, me, q.chats if q.chats else None)
    sender_ids = await _sender_ids(db, q.senders) if q.senders else None
    if not chat_ids or (sender_ids is not None and not sender_ids):
        return SearchPage(results=[], next_cursor=None)
    order: list[Any] = [{"created_at": "desc"}, {"key": "desc"}]
    if sort == "relevance":
        order = ["_score", *order]
    body: dict[str, Any] = {
        "query": bool_query(q, chat_ids=chat_ids, sender_ids=sender_ids),
        "size": limit + 1,
        "sort": order,
        "track_total_hits": False,
        "_source": ["chat_id", "seq", "sender_id", "body", "created_at", "edited_at", "has_attachment"],
        "highlight": {
            "encoder": "html",
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "fields": {"body": {"number_of_fragments": 3, "fragment_size": 150, "no_match_size": 0}},
        },
    }
    if sort == "newest":
        body["track_scores"] = False
    if after is not None:
        body["search_after"] = after
    try:
        response = await client.search(index=names.alias, body=body)
    except RequestError as error:
        log.info("OpenSearch refused a query: %s", error)
        raise InvalidQuery("The query could not be run; simplify it.") from None
    except Exception as error:
        log.warning("search failed: %r", error)
        raise SearchUnavailable("Search is not available right now.") from None
    hits = response["hits"]["hits"]
    results = [
        SearchHit(
            chat_id=h["_source"]["chat_id"],
            seq=h["_source"]["seq"],
            sender_id=h["_source"]["sender_id"],
            body=h["_source"].get("body") or "",
            created_at=h["_source"]["created_at"],
            edited_at=h["_source"].get("edited_at"),
            has_attachment=h["_source"].get("has_attachment", False),
            highlights=h.get("highlight", {}).get("body", []),
            score=h.get("_score") if sort == "relevance" else None,
        )
        for h in hits[:limit]
    ]
    more = len(hits) > limit
    return SearchPage(results=results, next_cursor=_encode_cursor(hits[limit - 1]["sort"]) if more else None)


def create_app(settings: SearchSettings | None = None, *, jwks: JwksSource | None = None) -> FastAPI:
    settings = settings or SearchSettings()
    topics = Topics(settings.kafka_topic_prefix)
    names = IndexNames(settings.index_prefix)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.search_ensure_topics:
            await ensure_topics(
                settings.kafka_bootstrap, [topics.events], partitions=settings.search_topic_partitions
            )
        http = httpx.AsyncClient()
        db = Database(settings.postgres_dsn.get_secret_value(), pool_size=settings.search_db_pool_size)
        client = open_client(settings)
        verifier = await start_verifier(settings, http, jwks)
        metrics: Metrics | None = getattr(app.state, "metrics", None)
        indexer = Indexer(
            bootstrap=settings.kafka_bootstrap,
            topic=topics.events,
            group_id=settings.group_id,
            engine=db.engine,
            client=client,
            names=names,
            batch_size=settings.search_max_batch,
            fetch_max_wait_ms=settings.search_fetch_max_wait_ms,
            max_backoff=settings.search_retry_max_seconds,
            metrics=IndexerMetrics(metrics.registry if metrics else None),
        )
        kafka_ping = KafkaPing(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}-health")
        db_ping = DatabasePing(settings.postgres_dsn.get_secret_value())
        index_ready: list[str] = []

        async def opensearch_ready() -> None:
            # The alias is made here, not at start: OpenSearch may come up after us.
            if not index_ready:
                index_ready.append(
                    await ensure_index(client, names, refresh_interval=settings.search_refresh_interval)
                )
            else:
                await client.cluster.health(index=names.alias)

        app.state.health = Health(
            ready=[
                check("postgres", db_ping),
                check("opensearch", opensearch_ready),
                check("kafka", kafka_ping, required=False),
            ],
            alive=[check("indexer", task_running(lambda: indexer.task, "the indexer"))],
        )
        app.state.db = db
        app.state.opensearch = client
        app.state.indexer = indexer
        app.state.token_verifier = verifier
        try:
            index_ready.append(
                await ensure_index(client, names, refresh_interval=settings.search_refresh_interval)
            )
        except Exception as error:
            log.warning("the messages index is not there yet (%r); the readiness check retries", error)
        async with running(
            indexer, then_close=(kafka_ping.close, db_ping.close, client.close, db.dispose, http.aclose)
        ):
            yield

    app = new_app(
        settings,
        title="Parley search",
        description="Full-text search of messages, over the chats the caller may read.",
        lifespan=lifespan,
    )

    @app.get("/search", response_model=SearchPage)
    async def search(
        request: Request,
        user: CurrentUser,
        q: Annotated[str, Query(description="The search box's text (docs/search.md has the grammar).")] = "",
        sort: Annotated[Sort, Query(description="relevance (then newest) or newest first.")] = "relevance",
        limit: Annotated[int, Query(ge=1, le=200, description="At most search_page_max.")] = 20,
        cursor: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> SearchPage:
        parsed = parse(q, max_chars=settings.search_query_max_chars)
        if parsed.empty:
            raise InvalidQuery("Say what to look for: words, a phrase or a filter.", code="empty_query")
        return await run_search(
            db=request.app.state.db,
            client=request.app.state.opensearch,
            names=names,
            me=user.user_id,
            q=parsed,
            sort=sort,
            limit=min(limit, settings.search_page_max),
            cursor=cursor,
        )

    @app.get("/status", include_in_schema=False)
    async def status() -> dict[str, Any]:
        report: dict[str, Any] = app.state.indexer.report()
        return report

    return app
