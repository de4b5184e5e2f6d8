"""SMTP: Parley's own mail sink (aiosmtpd), a real SMTP server that files every message in a Maildir."""

from __future__ import annotations

import smtplib
import sys

from parley.devstack import ports
from parley.devstack.component import Command, Component


class Smtp(Component):
    name = "smtp"
    start_timeout = 30.0

    @property
    def maildir(self) -> str:
        return str(self.paths.data("smtp") / "Maildir")

    def ports(self) -> dict[str, int]:
        return {"smtp": ports.SMTP}

    def install(self) -> None:
        """Nothing to fetch: the server is parley.devstack.mailsink on aiosmtpd, a dependency."""

    def prepare(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.paths.data("smtp") / "Maildir" / sub).mkdir(parents=True, exist_ok=True)

    def command(self) -> Command:
        return Command(
            [
                sys.executable,
                "-m",
                "parley.devstack.mailsink",
                "--host",
                ports.HOST,
                "--port",
                str(ports.SMTP),
                "--maildir",
                self.maildir,
            ],
            env={"PYTHONUNBUFFERED": "1"},
        )

    def healthy(self) -> bool:
        with smtplib.SMTP(ports.HOST, ports.SMTP, timeout=2) as client:
            code, _ = client.ehlo("parley-devstack")
            if code != 250 or not client.has_extn("size"):
                return False
            return client.noop()[0] == 250

    def endpoints(self) -> dict[str, str]:
        return {"host": ports.HOST, "port": str(ports.SMTP), "maildir": self.maildir}
