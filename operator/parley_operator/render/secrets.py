"""The generated signing-key Secret, created once when the spec names none and never overwritten
(tokens signed with it must stay verifiable)."""

from __future__ import annotations

import base64
from typing import Any

from parley_operator.render.context import RenderInput
from parley_operator.render.pods import NOTIFICATION_TOKEN_KEY, signing_key_source

CREATE_ONLY_ANNOTATION = "parley.dev/create-only"


def wants_generated_key(inp: RenderInput) -> bool:
    return inp.spec.auth.signing_key.secret_name is None


def render_notification_token_secret(inp: RenderInput) -> list[dict[str, Any]]:
    """The unsubscribe-link key of the notification service, generated once (links in mail already
    sent must keep working)."""
    if inp.notification_token is None:
        return []
    inst = inp.installation
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": inst.notification_token_secret,
                "namespace": inst.namespace,
                "labels": inst.labels("notification"),
                "annotations": {CREATE_ONLY_ANNOTATION: "true"},
            },
            "data": {NOTIFICATION_TOKEN_KEY: base64.b64encode(inp.notification_token.encode()).decode()},
        }
    ]


def render_signing_key_secret(inp: RenderInput) -> list[dict[str, Any]]:
    if not wants_generated_key(inp) or inp.signing_key_pem is None:
        return []
    inst = inp.installation
    name, key = signing_key_source(inp.spec, inst)
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": inst.namespace,
                "labels": inst.labels("auth"),
                "annotations": {CREATE_ONLY_ANNOTATION: "true"},
            },
            "data": {key: base64.b64encode(inp.signing_key_pem.encode()).decode()},
        }
    ]
