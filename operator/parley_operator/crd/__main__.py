"""`python -m parley_operator.crd [--check]`: write crds/chatplatform.yaml, or check it is current."""

from __future__ import annotations

import argparse
import sys

from parley_operator.crd.build import CRD_PATH, render_crd_yaml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed CRD is stale")
    args = parser.parse_args()
    text = render_crd_yaml()
    if args.check:
        if not CRD_PATH.exists() or CRD_PATH.read_text() != text:
            print(f"{CRD_PATH} is stale: run python -m parley_operator.crd", file=sys.stderr)
            return 1
        return 0
    CRD_PATH.write_text(text)
    print(f"wrote {CRD_PATH}")
    return 0


sys.exit(main())
