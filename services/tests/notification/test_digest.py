"""The whole path on real servers: stored events on Kafka -> pending rows -> one digest per user
-> the dev stack's SMTP server (read back from its Maildir)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
from parley.common.redis import Redis
from parley.notification.preferences import Preferences, QuietHours, quiet_until
from parley.notification.settings import NotificationSettings
from parley.testing.mail import MAIL_DOMAIN, Mailbox
from parley.testing.slices import unique
from parley.testing.tokens import Signer
from parley.testing.waiting import eventually

from tests.notification.conftest import World, set_online


def address(mailbox: Mailbox) -> str:
    return mailbox.track(f"{unique('n-')}@{MAIL_DOMAIN}")


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


async def settled(world: World) -> None:
    """Every pending row was planned (sent, dropped, or postponed: a postponed row is due at least
    a second after its first due time, which with these settings is at most 1 s after its first
    message) and every delivery left `pending`."""

    async def left() -> tuple[object, object]:
        return (
            await world.scalar(
                "SELECT count(*) FROM notification_pending WHERE due_at < first_at + interval '1.4 seconds'"
            ),
            await world.scalar("SELECT count(*) FROM notification_deliveries WHERE status = 'pending'"),
        )

    await eventually(left, lambda v: v == (0, 0), within=30, what="pending rows and deliveries to settle")


async def test_one_digest_for_the_offline_member_none_for_the_online_read_or_muted(
    service: object, world: World, mailbox: Mailbox, redis: Redis, settings: NotificationSettings
) -> None:
    mail = {name: address(mailbox) for name in ("ann", "bob", "cat", "dan", "eve")}
    ids = await world.users(mail)
    group = await world.chat(ids["ann"], [ids["bob"], ids["cat"], ids["dan"], ids["eve"]])
    direct = await world.chat(ids["ann"], [ids["bob"]], kind="direct")
    await set_online(redis, settings.redis_key_prefix, ids["cat"])
    await world.mute(group, ids["eve"])
    await world.post(
        group,
        ids["ann"],
        ["first", "<script>alert('x')</script> & <b>bold</b>", "@dan look"],
        read_by=[ids["dan"]],
    )
    await world.post(direct, ids["ann"], ["just for you"])

    [message] = await mailbox.wait_for_mail(mail["bob"], timeout=30)
    await settled(world)
    assert len(mailbox.messages(mail["bob"])) == 1, "one digest, not one mail per message"
    text, html = parts(message)
    assert "ann" in message["Subject"] or "2 chats" in message["Subject"]
    # Both unread chats, with a link back to each.
    assert f"http://parley.test/#/chat/{group}" in html and f"http://parley.test/#/chat/{direct}" in text
    assert "just for you" in text and "first" in text
    # The body is escaped in the HTML part, and arrives as written in the text part.
    assert (
        "<script>" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    )
    assert "<script>alert('x')</script> & <b>bold</b>" in text
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Online (cat), read (dan), muted (eve) and the sender (ann): nothing.
    for name in ("ann", "cat", "dan", "eve"):
        assert mailbox.messages(mail[name]) == [], name
    assert await world.scalar("SELECT count(*) FROM notification_deliveries") == 1


async def test_unsubscribe_link_turns_email_off_without_a_token(
    client: httpx.AsyncClient, world: World, mailbox: Mailbox, signer: Signer
) -> None:
    mail = {name: address(mailbox) for name in ("fay", "gus")}
    ids = await world.users(mail)
    chat = await world.chat(ids["fay"], [ids["gus"]], kind="direct")
    await world.post(chat, ids["fay"], ["hi"])
    [message] = await mailbox.wait_for_mail(mail["gus"], timeout=30)
    url = message["List-Unsubscribe"].strip("<>")
    split = urlsplit(url)
    assert split.path == "/api/notifications/unsubscribe"
    local = split.path.removeprefix("/api") + "?" + split.query  # the edge strips /api
    # The page shows a button and changes nothing; the one-click POST (no JWT, no Origin) does.
    page = await client.get(local)
    assert page.status_code == 200 and '<form method="post"' in page.text
    bearer = {"Authorization": f"Bearer {signer.token(ids['gus'], 'gus')}"}
    assert (await client.get("/notifications/preferences", headers=bearer)).json()["email"] is True
    posted = await client.post(
        local,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert posted.status_code == 200, posted.text
    assert (await client.get("/notifications/preferences", headers=bearer)).json()["email"] is False
    # A token for another user, or a forged one, does nothing.
    forged = local.replace(str(ids["gus"]), str(ids["fay"]))
    assert (await client.post(forged)).status_code == 400
    assert (
        await client.get(
            "/notifications/preferences",
            headers={"Authorization": f"Bearer {signer.token(ids['fay'], 'fay')}"},
        )
    ).json()["email"] is True


async def test_preferences_need_a_token_and_are_validated(client: httpx.AsyncClient, signer: Signer) -> None:
    assert (await client.get("/notifications/preferences")).status_code == 401
    bearer = {"Authorization": f"Bearer {signer.token(uuid.uuid4(), 'nobody')}"}
    body = {
        "email": True,
        "sms": False,
        "mentions_only": True,
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "time_zone": "Europe/Berlin",
    }
    # A user id that is no account: the foreign key refuses it; use a real one below.
    bad = await client.put(
        "/notifications/preferences", json={**body, "time_zone": "Mars/Olympus"}, headers=bearer
    )
    assert bad.status_code == 422


async def test_quiet_hours_postpone_the_digest_to_their_end(
    client: httpx.AsyncClient, world: World, mailbox: Mailbox, signer: Signer
) -> None:
    mail = {name: address(mailbox) for name in ("hal", "ivy")}
    ids = await world.users(mail)
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    bearer = {"Authorization": f"Bearer {signer.token(ids['ivy'], 'ivy')}"}
    body = {
        "quiet_hours": {"start": start.isoformat("minutes"), "end": end.isoformat("minutes")},
        "time_zone": "UTC",
    }
    put = await client.put("/notifications/preferences", json=body, headers=bearer)
    assert put.status_code == 200, put.text
    chat = await world.chat(ids["hal"], [ids["ivy"]], kind="direct")
    await world.post(chat, ids["hal"], ["late night"])

    async def due() -> object:
        return await world.scalar("SELECT due_at FROM notification_pending WHERE user_id = :u", u=ids["ivy"])

    # Postponed past now by the planner (not sent), to the end of the quiet hours.
    postponed, _ = await eventually(
        due,
        lambda v: isinstance(v, datetime) and v > now + timedelta(minutes=30),
        within=30,
        what="postponed",
    )
    assert isinstance(postponed, datetime) and postponed.time().replace(tzinfo=None) == end
    assert await world.scalar("SELECT count(*) FROM notification_deliveries") == 0


def test_quiet_hours_overnight_in_the_users_zone() -> None:
    prefs = Preferences(quiet_hours=QuietHours(start=time(22), end=time(7)), time_zone="Europe/Berlin")
    # 23:30 in Berlin (UTC+1 in December): quiet until 07:00 Berlin, 06:00 UTC.
    assert quiet_until(prefs, datetime(2026, 12, 2, 22, 30, tzinfo=UTC)) == datetime(
        2026, 12, 3, 6, 0, tzinfo=UTC
    )
    assert quiet_until(prefs, datetime(2026, 12, 2, 12, 0, tzinfo=UTC)) is None


async def test_mentions_only_skips_group_chatter_but_not_mentions(
    client: httpx.AsyncClient, world: World, mailbox: Mailbox, signer: Signer
) -> None:
    mail = {name: address(mailbox) for name in ("jon", "kim", "lea")}
    ids = await world.users(mail)
    for name in ("kim", "lea"):
        bearer = {"Authorization": f"Bearer {signer.token(ids[name], name)}"}
        put = await client.put("/notifications/preferences", json={"mentions_only": True}, headers=bearer)
        assert put.status_code == 200, put.text
    group = await world.chat(ids["jon"], [ids["kim"], ids["lea"]])
    await world.post(group, ids["jon"], ["chatter", "hey @Kim, see this"])
    [message] = await mailbox.wait_for_mail(mail["kim"], timeout=30)
    await settled(world)
    assert "(you were mentioned)" in parts(message)[0]
    assert mailbox.messages(mail["lea"]) == []
