"""The operator/service contract: these tests import both packages (the packages never import each
other; import-linter checks that). The operator's shared test specs live in operator/tests, which is
no package: its directory goes on sys.path the way pytest puts it there for the operator's tests."""

from __future__ import annotations

import sys
from pathlib import Path

OPERATOR_TESTS = Path(__file__).resolve().parents[2] / "operator" / "tests"
if str(OPERATOR_TESTS) not in sys.path:
    sys.path.insert(0, str(OPERATOR_TESTS))
