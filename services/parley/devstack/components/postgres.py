"""PostgreSQL 15 from Debian's packages, a private cluster on its own port and data directory."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg

from parley.devstack import podnet, ports, process, versions
from parley.devstack.component import Command, Component
from parley.devstack.system import chown_tree, ensure_debian_packages, service_user

USER = "parley"
PASSWORD = "parley"  # noqa: S105 - loopback-only dev credential
DATABASE = "parley"


class Postgres(Component):
    name = "postgres"
    # Started before the pod bridge existed (or by code without it): restarted to listen there too.
    restart_on_new_command = True
    # Fast shutdown: SIGTERM would wait for every client to disconnect.
    stop_signal = signal.SIGINT

    @property
    def bindir(self) -> Path:
        return Path(f"/usr/lib/postgresql/{versions.POSTGRES_MAJOR}/bin")

    @property
    def datadir(self) -> Path:
        return self.paths.user_data("postgres") / "data"

    @property
    def sockdir(self) -> Path:
        return self.paths.user_data("postgres") / "run"

    def ports(self) -> dict[str, int]:
        return {"sql": ports.POSTGRES}

    def install(self) -> None:
        ensure_debian_packages(
            {f"postgresql-{versions.POSTGRES_MAJOR}": str(self.bindir / "postgres")},
            self.setup_log,
        )

    def prepare(self) -> None:
        user = service_user()
        root = self.paths.user_data("postgres")
        self.sockdir.mkdir(parents=True, exist_ok=True)
        if not (self.datadir / "PG_VERSION").exists():
            self.datadir.mkdir(parents=True, exist_ok=True)
            pwfile = root / "pwfile"
            pwfile.write_text(PASSWORD + "\n")
            chown_tree(root, user)
            process.run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    USER,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                log_file=self.setup_log,
                user=user,
            )
            pwfile.unlink()
        self._allow_pods()
        chown_tree(root, user)

    def _allow_pods(self) -> None:
        """Password logins from the real node's pods (initdb allows loopback only)."""
        hba = self.datadir / "pg_hba.conf"
        line = f"host all all {podnet.POD_SUBNET} scram-sha-256\n"
        if podnet.bridge_address() is not None and line not in hba.read_text():
            with hba.open("a") as out:
                out.write("# The dev stack's pods (parley.devstack.podnet)\n" + line)

    def command(self) -> Command:
        return Command(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.datadir),
                "-p",
                str(ports.POSTGRES),
                "-c",
                f"listen_addresses={','.join(podnet.listen_hosts(ports.HOST))}",
                "-c",
                f"unix_socket_directories={self.sockdir}",
                "-c",
                "max_connections=400",
                "-c",
                "shared_buffers=256MB",
            ],
            user=service_user(),
        )

    def healthy(self) -> bool:
        with psycopg.connect(self.admin_dsn(), connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def after_start(self) -> None:
        with psycopg.connect(self.admin_dsn(dbname="postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def admin_dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@{ports.HOST}:{ports.POSTGRES}/{dbname}"

    def endpoints(self) -> dict[str, str]:
        return {
            "dsn": self.admin_dsn(DATABASE),
            **podnet.pods_endpoint("dsn", f"postgresql://{USER}:{PASSWORD}@{{}}:{ports.POSTGRES}/{DATABASE}"),
        }
