"""The reindex command's process: settings, connections, the report as one line."""

from __future__ import annotations

from parley.common.db import Database
from parley.common.topics import Topics
from parley.search.app import open_client
from parley.search.index import IndexNames
from parley.search.reindex import reindex
from parley.search.settings import SearchSettings


async def run_reindex(*, keep_old: bool = False, settings: SearchSettings | None = None) -> str:
    settings = settings or SearchSettings()
    db = Database(settings.postgres_dsn.get_secret_value(), pool_size=2)
    client = open_client(settings)
    try:
        report = await reindex(
            engine=db.engine,
            client=client,
            names=IndexNames(settings.index_prefix),
            bootstrap=settings.kafka_bootstrap,
            topic=Topics(settings.kafka_topic_prefix).events,
            refresh_interval=settings.search_refresh_interval,
            batch_size=settings.search_max_batch,
            keep_old=keep_old,
        )
    finally:
        await client.close()
        await db.dispose()
    return (
        f"alias now on {report.new} (was {', '.join(report.old) or 'nothing'}): "
        f"{report.loaded} messages loaded in {report.load_seconds:.1f} s ({report.docs_per_second:.0f}/s), "
        f"{report.caught_up} events caught up, {report.total_seconds:.1f} s in all"
    )
