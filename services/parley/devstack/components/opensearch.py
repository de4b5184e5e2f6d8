"""OpenSearch, one node, from the integ-test zip on Maven Central, run with the machine's Java.

That zip carries the server with only its transport module. The modules the platform relies on
(more analyzers, search_as_you_type, _delete_by_query) are published as plain jars, so they are
resolved with `mvn` and laid out as modules next to it, each with the descriptor the build would
have generated. OpenSearch refuses to run as root: it runs as the service user, from a copy of the
installation under that user's state directory.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx

from parley.devstack import jvm, podnet, ports, versions
from parley.devstack.archives import extract_zip
from parley.devstack.component import Command, Component
from parley.devstack.maven import Artifact, copy_runtime_classpath, fetch
from parley.devstack.system import chown_tree, service_user

_COMPLETE = ".parley-complete"
_VERSIONED = re.compile(r"^(.+?)-\d")

DISTRIBUTION = Artifact(
    "org.opensearch.distribution.integ-test-zip", "opensearch", versions.OPENSEARCH, type="zip"
)


@dataclass(frozen=True)
class Module:
    name: str
    artifact: str
    classname: str
    description: str


MODULES = (
    Module(
        "analysis-common",
        "analysis-common",
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "Analyzers beyond standard: asciifolding, edge_ngram, stemmers, language analyzers.",
    ),
    Module(
        "mapper-extras",
        "mapper-extras-client",
        "org.opensearch.index.mapper.MapperExtrasPlugin",
        "Field types search_as_you_type, scaled_float, rank_feature, token_count.",
    ),
    Module(
        "reindex",
        "reindex-client",
        "org.opensearch.index.reindex.ReindexPlugin",
        "_reindex, _update_by_query and _delete_by_query.",
    ),
)

# Our own jvm.options: the distribution's writes GC logs and heap dumps relative to its home,
# which the service user cannot (and should not) write to.
JVM_OPTIONS = """\
11-:-XX:+UseG1GC
11-:-XX:G1ReservePercent=25
11-:-XX:InitiatingHeapOccupancyPercent=30
-Djava.io.tmpdir=${{OPENSEARCH_TMPDIR}}
-XX:ErrorFile={logs}/hs_err_pid%p.log
18-:-Djava.security.manager=allow
20-:--add-modules=jdk.incubator.vector
-Djava.util.concurrent.ForkJoinPool.common.threadFactory=org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory
"""

OPENSEARCH_YML = """\
# Written by parley.devstack on every start; settings given on the command line win.
cluster.name: parley-dev
# A developer's nearly full disk must not turn the indices read-only in the middle of a test.
cluster.routing.allocation.disk.threshold_enabled: false
"""


class OpenSearch(Component):
    name = "opensearch"
    # Started before the pod bridge existed (or by code without it): restarted to listen there too.
    restart_on_new_command = True
    start_timeout = 120.0

    @property
    def build(self) -> Path:
        """The assembled installation in the cache (root-only, like all of the cache)."""
        return self.paths.builds / f"opensearch-{versions.OPENSEARCH}"

    @property
    def root(self) -> Path:
        return self.paths.user_data("opensearch")

    @property
    def home(self) -> Path:
        """The copy the service user runs, outside /root."""
        return self.root / f"home-{versions.OPENSEARCH}"

    @property
    def config(self) -> Path:
        return self.root / "config"

    def ports(self) -> dict[str, int]:
        return {"http": ports.OPENSEARCH, "transport": ports.OPENSEARCH_TRANSPORT}

    def install(self) -> None:
        jvm.java_home(self.setup_log)
        if (self.home / _COMPLETE).exists():
            return
        if not (self.build / _COMPLETE).exists():
            self._assemble()
        # The copy carries the build's completion marker; the rename makes it appear whole.
        staging = self.home.with_name(self.home.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.build, staging, symlinks=True)
        staging.rename(self.home)

    def _assemble(self) -> None:
        staging = self.build.with_name(self.build.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        extract_zip(fetch(self.paths, DISTRIBUTION, self.setup_log), staging, strip_components=1)
        bundled = {artifact_name(jar) for jar in (staging / "lib").glob("*.jar")}
        for module in MODULES:
            jars = copy_runtime_classpath(
                self.paths,
                [Artifact("org.opensearch.plugin", module.artifact, versions.OPENSEARCH)],
                self.paths.builds / "opensearch-modules" / f"{module.name}-{versions.OPENSEARCH}",
                self.setup_log,
            )
            target = staging / "modules" / module.name
            target.mkdir(parents=True)
            for jar in jars:
                # The server's own jars are on its classpath already; a second copy in a module
                # is refused as jar hell.
                if artifact_name(jar) not in bundled:
                    shutil.copy2(jar, target / jar.name)
            (target / "plugin-descriptor.properties").write_text(_descriptor(module))
        shutil.rmtree(self.build, ignore_errors=True)
        staging.rename(self.build)
        (self.build / _COMPLETE).write_text(versions.OPENSEARCH + "\n")

    def prepare(self) -> None:
        for sub in ("config", "data", "logs", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.config / "jvm.options.d").mkdir(exist_ok=True)
        (self.config / "jvm.options").write_text(JVM_OPTIONS.format(logs=self.root / "logs"))
        (self.config / "opensearch.yml").write_text(OPENSEARCH_YML)
        shutil.copy2(self.home / "config" / "log4j2.properties", self.config / "log4j2.properties")
        user = service_user()
        # The server writes its keystore into config/, so that is the user's too; its home is not.
        for sub in ("config", "data", "logs", "tmp"):
            chown_tree(self.root / sub, user)

    def command(self) -> Command:
        settings = {
            "discovery.type": "single-node",
            # HTTP also on the pod bridge (pods of the real node reach the host there); transport
            # stays on loopback, so the node keeps development mode (no production bootstrap checks).
            "http.host": ",".join(podnet.listen_hosts(ports.HOST)),
            "transport.host": ports.HOST,
            "http.port": str(ports.OPENSEARCH),
            "transport.port": str(ports.OPENSEARCH_TRANSPORT),
            "path.data": str(self.root / "data"),
            "path.logs": str(self.root / "logs"),
        }
        argv = [str(self.home / "bin" / "opensearch")]
        for key, value in settings.items():
            argv += ["-E", f"{key}={value}"]
        return Command(
            argv,
            env={
                "OPENSEARCH_JAVA_HOME": str(jvm.java_home(self.setup_log)),
                "OPENSEARCH_JAVA_OPTS": "-Xms512m -Xmx512m",
                "OPENSEARCH_PATH_CONF": str(self.config),
                "OPENSEARCH_TMPDIR": str(self.root / "tmp"),
            },
            cwd=self.root,
            user=service_user(),
        )

    def healthy(self) -> bool:
        # Yellow is healthy here: one node never places replicas.
        response = httpx.get(f"{self.url}/_cluster/health", params={"timeout": "2s"}, timeout=5)
        return response.status_code == 200 and response.json().get("status") in ("green", "yellow")

    @property
    def url(self) -> str:
        return f"http://{ports.HOST}:{ports.OPENSEARCH}"

    def endpoints(self) -> dict[str, str]:
        return {"url": self.url, **podnet.pods_endpoint("url", f"http://{{}}:{ports.OPENSEARCH}")}


def artifact_name(jar: Path) -> str:
    """opensearch-common-2.19.6.jar -> opensearch-common (the version starts at the first -<digit>)."""
    found = _VERSIONED.match(jar.stem)
    return found.group(1) if found else jar.stem


def _descriptor(module: Module) -> str:
    return (
        f"description={module.description}\n"
        f"version={versions.OPENSEARCH}\n"
        f"name={module.name}\n"
        f"classname={module.classname}\n"
        "java.version=11\n"
        f"opensearch.version={versions.OPENSEARCH}\n"
        "custom.foldername=\n"
        # analysis-common's build declares lang-painless as extended; that only adds painless
        # helpers, and painless is not installed.
        "extended.plugins=\n"
        "has.native.controller=false\n"
    )
