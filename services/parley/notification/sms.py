"""SMS over SMPP 3.4 (aiosmpplib): one ESME session per channel, bound as transceiver.

aiosmpplib sends what its broker hands it and reports each PDU to a hook; this adapter puts one
`submit_sm` (with the delivery id as its log id) in an in-memory queue and waits for the
`submit_sm_resp` carrying that log id: status OK is sent, a throttling or system status is a
temporary failure, any other status is permanent for that number. Delivery receipts
(`deliver_sm`) are only logged here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

from aiosmpplib import ESME, AbstractHook, PhoneNumber, SmppCommandStatus, SmppMessage, SubmitSm, SubmitSmResp
from aiosmpplib.broker import SimpleBroker

from parley.notification.channels import Outgoing, PermanentFailure, TemporaryFailure

log = logging.getLogger(__name__)

TEMPORARY = {
    SmppCommandStatus.ESME_RTHROTTLED,
    SmppCommandStatus.ESME_RMSGQFUL,
    SmppCommandStatus.ESME_RSYSERR,
    SmppCommandStatus.ESME_RSUBMITFAIL,
}


class _Answers(AbstractHook):  # type: ignore[misc]  # aiosmpplib has no type information
    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[SmppCommandStatus]] = {}

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSmResp):
            future = self.waiting.pop(smpp_message.log_id, None)
            if future is not None and not future.done():
                future.set_result(smpp_message.command_status)
        elif smpp_message is not None:
            log.debug("SMPP %s received", type(smpp_message).__name__)

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        log_id = getattr(smpp_message, "log_id", "")
        future = self.waiting.pop(log_id, None)
        if future is not None and not future.done():
            future.set_exception(TemporaryFailure(f"SMPP send failed: {error!r}", connection=True))


class SmppChannel:
    name: Literal["email", "sms"] = "sms"

    def __init__(
        self, *, host: str, port: int, system_id: str, password: str, source: str, timeout: float = 15.0
    ) -> None:
        self.source = source
        self.timeout = timeout
        self.hook = _Answers()
        self.broker = SimpleBroker()
        self.esme = ESME(
            smsc_host=host,
            smsc_port=port,
            system_id=system_id,
            password=password,
            hook=self.hook,
            broker=self.broker,
            log_level=logging.WARNING,
            socket_timeout=float(timeout),
        )
        self._task: asyncio.Task[None] | None = None

    def _ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.esme.start(), name="smpp-esme")

    async def send(self, item: Outgoing) -> None:
        self._ensure_started()
        log_id = str(item.delivery_id)
        future: asyncio.Future[SmppCommandStatus] = asyncio.get_running_loop().create_future()
        self.hook.waiting[log_id] = future
        message = SubmitSm(
            short_message=item.text,
            source=PhoneNumber(self.source),
            destination=PhoneNumber(item.address.lstrip("+")),
            log_id=log_id,
        )
        await self.broker.enqueue(message)
        try:
            status = await asyncio.wait_for(future, self.timeout)
        except TimeoutError as exc:
            self.hook.waiting.pop(log_id, None)
            raise TemporaryFailure("no submit_sm_resp from the SMSC in time", connection=True) from exc
        if status == SmppCommandStatus.ESME_ROK:
            return
        reason = f"submit_sm_resp {status.name}"
        if status in TEMPORARY:
            raise TemporaryFailure(reason)
        raise PermanentFailure(reason)

    async def close(self) -> None:
        task, self._task = self._task, None
        with contextlib.suppress(Exception):
            await self.esme.stop()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
