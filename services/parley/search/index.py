"""The messages index: its one definition (analyzers, mapping), its names, and versioned writes.

Ownership: this module is the only definition of the index's analysis and mapping. The search
service creates every index generation itself (the first one at start when the alias does not exist
yet, the next ones in `parley search reindex`) and owns the alias. The operator never imports
`parley`; it only names things the same way (`<namespace>.<platform>.messages`, generations
`….messages-NNNNNN`), puts an index template carrying the spec's shard and replica counts for that
pattern, and deletes the pattern when the platform is deleted (docs/search.md).

Documents: one per message, id `<chat_id>:<seq>`. Every write is an `index` with
`version_type=external` and the version of the change it comes from: the seq of the stored event
(created: the message's own seq; edited, deleted: the edit's or the deletion's seq). A chat's seqs
only grow, so of two writes of one message the later change wins whatever order they arrive in; a
replayed or reordered older write gets a 409 and is dropped. A deletion is written as a tombstone
*document* (no body, `deleted: true`) with the deletion's seq, not as a delete: OpenSearch forgets
a deleted document's version after `index.gc_deletes` (60 s), after which a replayed creation would
come back; a tombstone document keeps its version for as long as it exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opensearchpy import AsyncOpenSearch, NotFoundError

SCHEMA_VERSION = 1

# Language-neutral on purpose: one field holds every language a chat mixes. The standard tokenizer
# splits on Unicode word boundaries (and keeps emoji as tokens); cjk_width folds half/full-width
# forms, cjk_bigram turns runs of Han/Hiragana/Katakana/Hangul into overlapping bigrams (plus the
# single characters, so a one-character query finds them), asciifolding finds "café" by "cafe".
ANALYSIS: dict[str, Any] = {
    "filter": {
        "parley_cjk_bigram": {"type": "cjk_bigram", "output_unigrams": True},
    },
    "analyzer": {
        "parley_text": {
            "type": "custom",
            "tokenizer": "standard",
            "filter": ["cjk_width", "lowercase", "asciifolding", "parley_cjk_bigram"],
        },
    },
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "_meta": {"schema_version": SCHEMA_VERSION, "managed_by": "parley-search"},
    "properties": {
        "key": {"type": "keyword"},
        "chat_id": {"type": "keyword"},
        "seq": {"type": "long"},
        "sender_id": {"type": "keyword"},
        "body": {"type": "text", "analyzer": "parley_text"},
        "attachment_ids": {"type": "keyword"},
        "attachment_names": {"type": "text", "analyzer": "parley_text"},
        "has_attachment": {"type": "boolean"},
        "created_at": {"type": "date"},
        "edited_at": {"type": "date"},
        "deleted": {"type": "boolean"},
    },
}


def index_body(*, refresh_interval: str | None = None) -> dict[str, Any]:
    """Settings (analysis; shards and replicas come from the operator's template, or the defaults)
    and mapping of one index generation."""
    settings: dict[str, Any] = {"analysis": ANALYSIS}
    if refresh_interval is not None:
        settings["refresh_interval"] = refresh_interval
    return {"settings": settings, "mappings": MAPPINGS}


@dataclass(frozen=True)
class IndexNames:
    prefix: str

    @property
    def alias(self) -> str:
        return f"{self.prefix}.messages"

    @property
    def pattern(self) -> str:
        return f"{self.prefix}.messages-*"

    def generation(self, number: int) -> str:
        return f"{self.prefix}.messages-{number:06d}"

    def number_of(self, index: str) -> int | None:
        head = f"{self.prefix}.messages-"
        if not index.startswith(head) or not index[len(head) :].isdigit():
            return None
        return int(index[len(head) :])


async def alias_indices(client: AsyncOpenSearch, names: IndexNames) -> list[str]:
    try:
        found = await client.indices.get_alias(name=names.alias)
    except NotFoundError:
        return []
    return sorted(found)


async def generations(client: AsyncOpenSearch, names: IndexNames) -> list[int]:
    try:
        found = await client.indices.get(index=names.pattern, expand_wildcards="all")
    except NotFoundError:
        return []
    return sorted(n for index in found if (n := names.number_of(index)) is not None)


async def ensure_index(client: AsyncOpenSearch, names: IndexNames, *, refresh_interval: str = "500ms") -> str:
    """The alias exists (on generation 1 when nothing did); returns the index it points to."""
    current = await alias_indices(client, names)
    if current:
        return current[-1]
    first = names.generation(1)
    body = index_body(refresh_interval=refresh_interval)
    body["aliases"] = {names.alias: {"is_write_index": True}}
    try:
        await client.indices.create(index=first, body=body)
    except Exception as error:  # another replica made it first: fine when the alias is there now
        current = await alias_indices(client, names)
        if current:
            return current[-1]
        if "resource_already_exists" not in str(error):
            raise
        await client.indices.put_alias(index=first, name=names.alias, body={"is_write_index": True})
    return first


def doc_id(chat_id: uuid.UUID | str, seq: int) -> str:
    return f"{chat_id}:{seq}"


@dataclass(frozen=True)
class Write:
    """One versioned write of a message's whole document."""

    chat_id: uuid.UUID
    seq: int
    version: int
    source: dict[str, Any]


def message_write(
    chat_id: uuid.UUID,
    seq: int,
    version: int,
    *,
    sender_id: uuid.UUID,
    body: str,
    attachments: list[Any],
    created_at: datetime,
    edited_at: datetime | None,
) -> Write:
    ids = [str(a) for a in attachments]
    return Write(
        chat_id,
        seq,
        version,
        {
            "key": doc_id(chat_id, seq),
            "chat_id": str(chat_id),
            "seq": seq,
            "sender_id": str(sender_id),
            "body": body,
            "attachment_ids": ids,
            "has_attachment": bool(ids),
            "created_at": created_at.isoformat(),
            "edited_at": edited_at.isoformat() if edited_at else None,
            "deleted": False,
        },
    )


def tombstone_write(
    chat_id: uuid.UUID, seq: int, version: int, *, sender_id: uuid.UUID | None, created_at: datetime | None
) -> Write:
    return Write(
        chat_id,
        seq,
        version,
        {
            "key": doc_id(chat_id, seq),
            "chat_id": str(chat_id),
            "seq": seq,
            "sender_id": str(sender_id) if sender_id else None,
            "created_at": created_at.isoformat() if created_at else None,
            "deleted": True,
        },
    )


@dataclass
class BulkResult:
    written: int = 0
    stale: int = 0  # an equal or newer version was there already (a replay, a reorder)
    failed: list[dict[str, Any]] = field(default_factory=list)


class BulkError(Exception):
    pass


def latest_writes(writes: list[Write]) -> list[Write]:
    """One write per document, the highest version: a bulk request with two writes of one document
    would conflict with itself."""
    best: dict[tuple[uuid.UUID, int], Write] = {}
    for write in writes:
        key = (write.chat_id, write.seq)
        if key not in best or best[key].version < write.version:
            best[key] = write
    return list(best.values())


async def bulk_write(
    client: AsyncOpenSearch, index: str, writes: list[Write], *, refresh: bool | str = False
) -> BulkResult:
    """Write every document with its external version; a 409 (stale) is success. Raises BulkError
    when any other item failed (the caller retries the batch: versioned writes make that safe)."""
    result = BulkResult()
    writes = latest_writes(writes)
    if not writes:
        return result
    lines: list[dict[str, Any]] = []
    for write in writes:
        lines.append(
            {
                "index": {
                    "_index": index,
                    "_id": doc_id(write.chat_id, write.seq),
                    "version": write.version,
                    "version_type": "external",
                }
            }
        )
        lines.append(write.source)
    response = await client.bulk(body=lines, refresh=refresh)
    for item in response["items"]:
        outcome = item["index"]
        status = outcome.get("status", 500)
        if status in (200, 201):
            result.written += 1
        elif status == 409:
            result.stale += 1
        else:
            result.failed.append(outcome)
    if result.failed:
        raise BulkError(f"{len(result.failed)} bulk items failed, first: {result.failed[0].get('error')}")
    return result
