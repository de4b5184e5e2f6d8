"""The search box's grammar, parsed by hand into an OpenSearch bool query (never a `query_string`:
Lucene syntax in a user's words is just text here).

    query   := term*                       terms are separated by white space
    term    := ["-"] (phrase | filter | word)
    phrase  := '"' any-but-quote* '"'      an unclosed quote runs to the end
    filter  := name ":" (phrase | word)    name in from, in, has, after, before, on
    word    := any run without white space (a `name:` we do not know is a word)

Words must all match (in the body or attachment names), each phrase must match as a phrase, a
leading "-" excludes a word or phrase. `from:` takes a username or user id (several: any of them),
`in:` a chat id (several: any of them), `has:attachment`, and `after:` / `before:` / `on:` a date
(YYYY-MM-DD, UTC) or an ISO date-time. Anything else wrong with a filter is a 400 naming it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from parley.common.errors import ApiError

MAX_TERMS = 64
FIELDS = ["body", "attachment_names"]


class InvalidQuery(ApiError):
    status_code = 400
    code = "invalid_query"


@dataclass
class ParsedQuery:
    words: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    excluded_words: list[str] = field(default_factory=list)
    excluded_phrases: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)  # usernames or ids, resolved by the caller
    chats: list[uuid.UUID] = field(default_factory=list)
    has_attachment: bool = False
    after: datetime | None = None  # inclusive
    before: datetime | None = None  # exclusive

    @property
    def has_text(self) -> bool:
        return bool(self.words or self.phrases)

    @property
    def empty(self) -> bool:
        return not (
            self.has_text or self.excluded_words or self.excluded_phrases or self.senders or self.chats
        ) and not (self.has_attachment or self.after or self.before)


def _tokens(text: str) -> list[tuple[bool, str | None, str, bool]]:
    """(negated, filter name or None, value, quoted) per term."""
    out: list[tuple[bool, str | None, str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = False
        if text[i] == "-" and i + 1 < n and not text[i + 1].isspace():
            negated, i = True, i + 1
        name: str | None = None
        # A filter name: letters then a colon, followed by something.
        j = i
        while j < n and text[j].isalpha() and text[j].isascii():
            j += 1
        if j > i and j < n and text[j] == ":" and j + 1 < n and not text[j + 1].isspace():
            candidate = text[i:j].lower()
            if candidate in FILTERS:
                name, i = candidate, j + 1
        if text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            out.append((negated, name, text[i + 1 : end], True))
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        out.append((negated, name, text[i:j], False))
        i = j
    return out


def _when(value: str, name: str) -> tuple[datetime, bool]:
    """A date (day precision: True) or a date-time, as UTC."""
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC), True
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQuery(
            f"{name}: wants a date (YYYY-MM-DD) or an ISO date-time, not {value[:40]!r}."
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False


FILTERS = frozenset({"from", "in", "has", "after", "before", "on"})


def parse(text: str, *, max_chars: int) -> ParsedQuery:
    if len(text) > max_chars:
        raise InvalidQuery(f"The query is longer than {max_chars} characters.")
    if "\x00" in text:
        raise InvalidQuery("The query contains a NUL character.")
    terms = _tokens(text)
    if len(terms) > MAX_TERMS:
        raise InvalidQuery(f"The query has more than {MAX_TERMS} terms.")
    q = ParsedQuery()
    for negated, name, value, quoted in terms:
        if name is None:
            if not value.strip():
                continue
            if negated:
                (q.excluded_phrases if quoted else q.excluded_words).append(value)
            else:
                (q.phrases if quoted else q.words).append(value)
            continue
        if negated:
            raise InvalidQuery(f"-{name}: is not supported; only words and phrases can be excluded.")
        if name == "from":
            q.senders.append(value)
        elif name == "in":
            try:
                q.chats.append(uuid.UUID(value))
            except ValueError:
                raise InvalidQuery(f"in: wants a chat id, not {value[:40]!r}.") from None
        elif name == "has":
            if value.lower() not in ("attachment", "attachments", "file"):
                raise InvalidQuery(f"has: knows `attachment`, not {value[:40]!r}.")
            q.has_attachment = True
        else:
            moment, whole_day = _when(value, name)
            if name == "after":
                start = moment + timedelta(days=1) if whole_day else moment
                q.after = max(q.after, start) if q.after else start
            elif name == "before":
                q.before = min(q.before, moment) if q.before else moment
            else:  # on
                if not whole_day:
                    raise InvalidQuery("on: wants a date (YYYY-MM-DD).")
                q.after = max(q.after, moment) if q.after else moment
                end = moment + timedelta(days=1)
                q.before = min(q.before, end) if q.before else end
    return q


def bool_query(
    q: ParsedQuery, *, chat_ids: list[uuid.UUID], sender_ids: list[uuid.UUID] | None
) -> dict[str, Any]:
    """The query over `chat_ids` only (the caller's readable chats, already narrowed by `in:`)."""
    must: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = [{"term": {"deleted": True}}]
    filters: list[dict[str, Any]] = [{"terms": {"chat_id": [str(c) for c in chat_ids]}}]
    if q.words:
        must.append(
            {
                "multi_match": {
                    "query": " ".join(q.words),
                    "fields": FIELDS,
                    "type": "cross_fields",
                    "operator": "and",
                }
            }
        )
    for phrase in q.phrases:
        must.append({"multi_match": {"query": phrase, "fields": FIELDS, "type": "phrase"}})
    for word in q.excluded_words:
        must_not.append({"multi_match": {"query": word, "fields": FIELDS, "operator": "and"}})
    for phrase in q.excluded_phrases:
        must_not.append({"multi_match": {"query": phrase, "fields": FIELDS, "type": "phrase"}})
    if sender_ids is not None:
        filters.append({"terms": {"sender_id": [str(s) for s in sender_ids]}})
    if q.has_attachment:
        filters.append({"term": {"has_attachment": True}})
    if q.after or q.before:
        window: dict[str, str] = {}
        if q.after:
            window["gte"] = q.after.isoformat()
        if q.before:
            window["lt"] = q.before.isoformat()
        filters.append({"range": {"created_at": window}})
    if not must:
        must.append({"match_all": {}})
    return {"bool": {"must": must, "must_not": must_not, "filter": filters}}
