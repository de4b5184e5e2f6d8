"""Messages per second the socket's Redis subscriber parses and hands over (no network): pub/sub
message frames of ~300 bytes, fed in 100-frame chunks through its connection's data_received.

    .venv/bin/python bench/pubsub_parse.py [--messages 500000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from parley.socket.pubsub import Subscriber, _Connection


async def main(messages: int) -> None:
    payload = b'{"type":"message.created","chat_id":"6f1c3c53-0d6e-4a8a-9d53-7c9c2d8a0b11","seq":123,"body":"'
    payload += b"x" * 200 + b'"}'
    channel = b"p:chat:6f1c3c53-0d6e-4a8a-9d53-7c9c2d8a0b11"
    frame = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(channel),
        channel,
        len(payload),
        payload,
    )
    chunk = frame * 100
    got = 0

    def on_message(_channel: bytes, _data: bytes) -> None:
        nonlocal got
        got += 1

    subscriber = Subscriber("redis://127.0.0.1:1", on_message)
    subscriber.refs[channel] = 1
    conn = _Connection(subscriber)
    for _ in range(3):
        got = 0
        began = time.perf_counter()
        for _ in range(messages // 100):
            conn.data_received(chunk)
        elapsed = time.perf_counter() - began
        print(f"{got:,} messages in {elapsed:.2f} s: {got / elapsed:,.0f} messages/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000)
    asyncio.run(main(parser.parse_args().messages))
