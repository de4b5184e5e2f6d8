"""SMS through SMPP 3.4 to a real, independent SMSC: jsmpp's SMPPServerSimulator (the dev stack's
`smpp` component); what it received is read back from its log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from parley.devstack.stack import Stack
from parley.notification.settings import NotificationSettings
from parley.testing.mail import MAIL_DOMAIN, Mailbox
from parley.testing.slices import unique
from parley.testing.tokens import Signer
from parley.testing.waiting import eventually
from pydantic import SecretStr

from tests.notification.conftest import World, running


@pytest.fixture(scope="session")
def smpp_server(dev_stack: Stack) -> dict[str, str]:
    return dev_stack.up(["smpp"])["smpp"]


@pytest.fixture
async def sms_service(
    settings: NotificationSettings, signer: Signer, smpp_server: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    with_sms = settings.model_copy(
        update={
            "sms_provider": "smpp",
            "smpp_host": smpp_server["host"],
            "smpp_port": int(smpp_server["port"]),
            "smpp_system_id": smpp_server["system_id"],
            "smpp_password": SecretStr(smpp_server["password"]),
        }
    )
    async with running(with_sms, signer) as (_, client):
        yield client


async def test_an_offline_member_who_wants_sms_gets_one_text_at_the_smsc(
    sms_service: httpx.AsyncClient,
    world: World,
    mailbox: Mailbox,
    signer: Signer,
    smpp_server: dict[str, str],
) -> None:
    mail = {name: mailbox.track(f"{unique('s-')}@{MAIL_DOMAIN}") for name in ("max", "nia")}
    ids = await world.users(mail)
    # A number of this test's own, so the SMSC's log tells its message apart from others'.
    number = "+49151" + str(int(ids["nia"]) % 10**7).zfill(7)
    async with world.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE auth_users SET phone = :p WHERE id = :u"), {"p": number, "u": ids["nia"]}
        )
    bearer = {"Authorization": f"Bearer {signer.token(ids['nia'], 'nia')}"}
    put = await sms_service.put("/notifications/preferences", json={"sms": True}, headers=bearer)
    assert put.status_code == 200, put.text
    chat = await world.chat(ids["max"], [ids["nia"]], kind="direct")
    await world.post(chat, ids["max"], ["call me"])

    async def statuses() -> object:
        async with world.engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT channel, status, address FROM notification_deliveries WHERE user_id = :u"),
                {"u": ids["nia"]},
            )
            return sorted(tuple(row) for row in rows)

    done, _ = await eventually(
        statuses,
        lambda rows: isinstance(rows, list) and len(rows) == 2 and all(r[1] == "sent" for r in rows),
        within=30,
        what="the email and the SMS sent",
    )
    assert done == [("email", "sent", mail["nia"]), ("sms", "sent", number)]
    # The SMSC received it: its log names the submit_sm with our text.
    log = Path(smpp_server["log"])

    def received() -> list[str]:
        return [
            line
            for line in log.read_text(errors="replace").splitlines()
            if "submit_sm" in line and "max" in line
        ]

    lines, _ = await eventually(lambda: asyncio.to_thread(received), within=10, what="the SMSC's log")
    assert any("unread message" in line for line in lines), lines[-3:]
