"""`parley-operator` / `python -m parley_operator`: run the kopf operator for ChatPlatform resources."""

from __future__ import annotations

import argparse
import asyncio
import logging

import kopf

from parley_operator import handlers, metrics


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parley-operator", description=__doc__)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    parser.add_argument(
        "--liveness", default=None, help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz"
    )
    parser.add_argument(
        "--metrics", default=None, help="serve Prometheus metrics at host:port (or :port), e.g. :9090"
    )
    parser.add_argument("--standalone", action="store_true", help="no peering with other operator instances")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:
        # One line per handled event of every child and per search request drowns what matters.
        for noisy in ("kopf.objects", "opensearch", "aiokafka"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    assert handlers.reconcile_handler  # the import registers the handlers with kopf
    if args.metrics:
        metrics.serve(args.metrics)
    asyncio.run(
        kopf.operator(
            clusterwide=not args.namespace,
            namespaces=args.namespace or [],
            standalone=args.standalone,
            liveness_endpoint=args.liveness,
        )
    )
