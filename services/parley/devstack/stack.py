"""The dev stack as a whole: bring components up in order, down in reverse, report status."""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed

from parley.devstack.component import Component, State, Status
from parley.devstack.errors import DevStackError
from parley.devstack.paths import Paths
from parley.devstack.registry import COMPONENTS, resolve
from parley.devstack.ui import Progress

# Settings names the services read (see parley.common.settings), from the components' endpoints.
ENV_FROM_ENDPOINTS: dict[tuple[str, str], str] = {
    ("postgres", "dsn"): "PARLEY_POSTGRES_DSN",
    ("redis", "url"): "PARLEY_REDIS_URL",
    ("s3", "endpoint"): "PARLEY_S3_ENDPOINT",
    ("s3", "access_key"): "PARLEY_S3_ACCESS_KEY",
    ("s3", "secret_key"): "PARLEY_S3_SECRET_KEY",
    ("smtp", "host"): "PARLEY_SMTP_HOST",
    ("smtp", "port"): "PARLEY_SMTP_PORT",
    ("smpp", "host"): "PARLEY_SMPP_HOST",
    ("smpp", "port"): "PARLEY_SMPP_PORT",
    ("smpp", "system_id"): "PARLEY_SMPP_SYSTEM_ID",
    ("smpp", "password"): "PARLEY_SMPP_PASSWORD",
    ("kafka", "bootstrap"): "PARLEY_KAFKA_BOOTSTRAP",
    ("opensearch", "url"): "PARLEY_OPENSEARCH_URL",
    ("clamav", "address"): "PARLEY_STORAGE_CLAMD_ADDRESS",
    ("kube-apiserver", "kubeconfig"): "KUBECONFIG",
    ("zipkin", "spans"): "PARLEY_TRACE_ENDPOINT",
    ("zipkin", "sample_ratio"): "PARLEY_TRACE_SAMPLE_RATIO",
}


def settings_env(component: str, endpoints: dict[str, str]) -> dict[str, str]:
    return {
        env: endpoints[key]
        for (comp, key), env in ENV_FROM_ENDPOINTS.items()
        if comp == component and key in endpoints
    }


class Stack:
    def __init__(self, paths: Paths | None = None, ui: Progress | None = None) -> None:
        self.paths = paths or Paths.from_env()
        self.ui = ui or Progress()

    def component(self, name: str) -> Component:
        return COMPONENTS[name](self.paths, self.ui)

    def components(self, names: Iterable[str], *, with_requirements: bool = True) -> list[Component]:
        return [self.component(name) for name in resolve(list(names), with_requirements=with_requirements)]

    def up(self, names: Iterable[str] = ("all",)) -> dict[str, dict[str, str]]:
        started = self.components(names)
        self.install(started)
        env: dict[str, str] = {}
        for comp in started:
            comp.stack_env = dict(env)
            comp.up()
            env.update(settings_env(comp.name, comp.endpoints()))
        self.write_endpoints()
        return {comp.name: comp.endpoints() for comp in started}

    def install(self, components: list[Component]) -> None:
        """Fetch and build everything first, in parallel: a cold start is mostly downloads and
        compiles, which overlap well; starting stays sequential, in dependency order."""
        pending = [comp for comp in components if comp.pid() is None]
        if len(pending) < 2:
            return
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="install") as pool:
            futures = {pool.submit(comp.install): comp for comp in pending}
            errors = []
            for future in as_completed(futures):
                comp = futures[future]
                try:
                    future.result()
                except Exception as exc:
                    errors.append(f"{comp.name}: {exc}")
                else:
                    self.ui.step(comp.name, "installed")
        if errors:
            raise DevStackError("installing failed:\n" + "\n".join(errors))

    def down(self, names: Iterable[str] = ("all",)) -> list[str]:
        stopped = []
        # Only what was named: components others may still need keep running.
        for comp in reversed(self.components(names, with_requirements=False)):
            if comp.down():
                self.ui.step(comp.name, "stopped")
                stopped.append(comp.name)
        self.write_endpoints()
        return stopped

    def status(self, names: Iterable[str] = ("all",)) -> list[Status]:
        return [comp.status() for comp in self.components(names)]

    def require(self, names: Iterable[str]) -> dict[str, dict[str, str]]:
        """Endpoints of components that must already be up (tests use this after `up`)."""
        result = {}
        for st in self.status(names):
            if st.state is not State.UP:
                raise DevStackError(f"{st.name} is {st.state.value}; run `parley dev up`")
            result[st.name] = st.endpoints
        return result

    def load_images(self, refs: Iterable[str]) -> None:
        """Put podman-built images into the real node's containerd (pods use them with
        imagePullPolicy: Never). An image the node already has, by the same podman image id, is
        not imported again (an import of the services image takes a minute or two here)."""
        from parley.devstack import images
        from parley.devstack.components.kube.containerd import Containerd

        node = Containerd(self.paths, self.ui)
        if node.pid() is None:
            raise DevStackError("containerd is not up: run `parley dev up node` first")
        log = self.paths.logs / "images.log"
        for ref in refs:
            image_id = images.image_id(self.paths, ref)
            if node.has_image(ref, image_id):
                self.ui.step("containerd", f"has {ref} already")
                continue
            same = node.imported_as(image_id)
            if same is not None:
                node.tag_image(same, ref, image_id)
                self.ui.step("containerd", f"tagged {same} as {ref}")
                continue
            archive = images.images_dir(self.paths) / (ref.replace("/", "_").replace(":", "_") + ".tar")
            images.save(self.paths, ref, archive, log)
            try:
                node.import_image(archive, ref, image_id)
            finally:
                archive.unlink(missing_ok=True)
            self.ui.step("containerd", f"loaded {ref}")

    def write_endpoints(self) -> None:
        """endpoints.json and dev.env describe what is up now, for tests, services and people; the
        dev Prometheus's targets are what is up now too."""
        from parley.devstack.components.prometheus import write_targets

        statuses = self.status()
        up = {st.name: st.endpoints for st in statuses if st.state is State.UP}
        write_targets(self.paths, [self.component(name) for name in up])
        self.paths.state.mkdir(parents=True, exist_ok=True)
        (self.paths.state / "endpoints.json").write_text(json.dumps(up, indent=2) + "\n")
        lines = [
            f"{env}={up[comp][key]}"
            for (comp, key), env in ENV_FROM_ENDPOINTS.items()
            if comp in up and key in up[comp]
        ]
        (self.paths.state / "dev.env").write_text("\n".join(lines) + "\n")
