"""The storage service's place at the edge and in the rendering: its route, and the CSP that lets
the browser upload straight to the S3 server's public origin when one is given."""

from __future__ import annotations

from chatplatform_specs import REQUIRED
from parley_operator.api.spec import parse_spec
from parley_operator.edge import EdgePolicy
from parley_operator.edge.routes import ROUTES
from parley_operator.names import Installation
from parley_operator.render.configmap import storage_env
from parley_operator.render.context import RenderInput
from parley_operator.render.entry import edge_policy


def _directives(csp: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in csp.split("; ")}


def test_attachments_go_to_storage_before_the_api_route() -> None:
    names = [route.name for route in ROUTES]
    assert names.index("attachments") < names.index("api")
    route = ROUTES[names.index("attachments")]
    assert (route.path, route.backend, route.rewrite, route.jwt) == (
        "/api/attachments",
        "storage",
        "/attachments",
        True,
    )


def test_the_csp_allows_the_s3_public_origin_only_when_given() -> None:
    plain = _directives(EdgePolicy(issuer="x").security_headers()["content-security-policy"])
    assert plain["connect-src"] == "'self'"
    given = EdgePolicy(issuer="x", upload_origins=("https://files.example",))
    csp = _directives(given.security_headers()["content-security-policy"])
    assert csp["connect-src"] == "'self' https://files.example"
    assert csp["img-src"] == "'self' data: blob: https://files.example"
    assert csp["script-src"] == "'self'"


def test_the_spec_s3_public_endpoint_reaches_the_csp_and_the_storage_pods() -> None:
    spec = parse_spec({**REQUIRED, "s3": {**REQUIRED["s3"], "publicEndpoint": "https://files.example/"}})
    inst = Installation("chat", "acme")
    assert edge_policy(spec, inst).upload_origins == ("https://files.example",)
    env = storage_env(RenderInput.steady(spec, inst))
    assert env["PARLEY_S3_PUBLIC_ENDPOINT"] == "https://files.example"
    assert env["PARLEY_S3_BUCKET"] == inst.default_bucket
    assert env["PARLEY_STORAGE_MAX_FILE_BYTES"] == str(100 * 1024 * 1024)
    assert "PARLEY_STORAGE_CLAMD_ADDRESS" not in env
    without = parse_spec(REQUIRED)
    assert edge_policy(without, inst).upload_origins == ()
    assert "PARLEY_S3_PUBLIC_ENDPOINT" not in storage_env(RenderInput.steady(without, inst))
