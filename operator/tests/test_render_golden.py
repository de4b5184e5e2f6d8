"""Whole renderings of three specs against committed golden files."""

from __future__ import annotations

from chatplatform_specs import FULL, MINIMAL, NAME, NAMESPACE, REQUIRED
from golden_files import check_golden
from parley_operator.api.spec import parse_spec
from parley_operator.names import Installation
from parley_operator.render import RenderInput, render_all

# Stands in for a generated key: the golden files must not change with each run.
FAKE_PEM = "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n"
INSTALLATION = Installation(NAMESPACE, NAME)


def _render(raw: dict[str, object], pem: str | None) -> list[dict[str, object]]:
    spec = parse_spec(raw)
    inp = RenderInput.steady(spec, INSTALLATION)
    return render_all(RenderInput(spec, INSTALLATION, inp.services_release, None, pem)).all


def test_defaults() -> None:
    """Only the required fields: two replicas each, no HPA, PDB or Ingress, a generated signing key."""
    check_golden("defaults", _render(REQUIRED, FAKE_PEM))


def test_full() -> None:
    """Ingress with TLS, HPAs (CPU, and connections for socket), PDBs, an existing signing Secret."""
    check_golden("full", _render(FULL, FAKE_PEM))


def test_minimal() -> None:
    """One replica of everything, no scrape annotations; the signing key Secret already exists."""
    check_golden("minimal", _render(MINIMAL, None))
