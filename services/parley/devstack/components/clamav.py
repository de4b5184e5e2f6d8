"""ClamAV's clamd from Debian (`clamav clamav-daemon`), a private daemon on its own port.

No signature database can be fetched here, and the dev stack must not depend on one: the database
folder is made at install time and holds two signatures of the EICAR test file only, an `.hdb`
(its MD5, made by `sigtool --md5` of the file this module writes) and an `.ndb` (its bytes in hex,
anywhere in a file). clamd starts on that in about a second; an INSTREAM of EICAR answers FOUND,
anything else OK. A real installation points clamd at the real signatures (freshclam).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from parley.devstack import podnet, ports
from parley.devstack.component import Command, Component
from parley.devstack.errors import DevStackError
from parley.devstack.system import ensure_debian_packages

CLAMD = Path("/usr/sbin/clamd")
SIGTOOL = Path("/usr/bin/sigtool")
# The EICAR anti-virus test file: harmless, and every scanner's agreed test signature.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
STREAM_MAX = "200M"  # above the storage service's default per-file limit (100 MB)


class ClamAV(Component):
    name = "clamav"
    start_timeout = 60.0

    @property
    def data(self) -> Path:
        return self.paths.data("clamav")

    @property
    def database(self) -> Path:
        return self.data / "db"

    @property
    def config(self) -> Path:
        return self.data / "clamd.conf"

    def ports(self) -> dict[str, int]:
        return {"clamd": ports.CLAMD}

    def install(self) -> None:
        ensure_debian_packages({"clamav": str(SIGTOOL), "clamav-daemon": str(CLAMD)}, self.setup_log)

    def prepare(self) -> None:
        self.database.mkdir(parents=True, exist_ok=True)
        sample = self.data / "eicar.com"
        sample.write_bytes(EICAR)
        md5 = subprocess.run(
            [str(SIGTOOL), "--md5", str(sample)], capture_output=True, text=True, check=False, cwd=self.data
        )
        if md5.returncode != 0 or not md5.stdout.strip():
            raise DevStackError(f"sigtool --md5 failed: {md5.stderr.strip()}")
        (self.database / "parley-eicar.hdb").write_text(md5.stdout.strip() + "\n")
        (self.database / "parley-eicar.ndb").write_text(f"Parley.Test.EICAR:0:*:{EICAR.hex()}\n")
        listen = "\n".join(f"TCPAddr {host}" for host in podnet.listen_hosts(ports.HOST))
        self.config.write_text(
            f"""Foreground yes
DatabaseDirectory {self.database}
TCPSocket {ports.CLAMD}
{listen}
StreamMaxLength {STREAM_MAX}
MaxFileSize {STREAM_MAX}
MaxScanSize {STREAM_MAX}
MaxThreads 4
LogTime yes
LogVerbose no
ExitOnOOM yes
"""
        )

    def command(self) -> Command:
        return Command([str(CLAMD), f"--config-file={self.config}"])

    def healthy(self) -> bool:
        with socket.create_connection((ports.HOST, ports.CLAMD), timeout=2) as conn:
            conn.sendall(b"zPING\0")
            return conn.recv(16).startswith(b"PONG")

    def endpoints(self) -> dict[str, str]:
        return {
            "address": f"{ports.HOST}:{ports.CLAMD}",
            **podnet.pods_endpoint("address", f"{{}}:{ports.CLAMD}"),
        }
