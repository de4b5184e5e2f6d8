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
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        help="watch this namespace, or those matching a glob such as 'team-*' (repeatable)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    parser.add_argument(
        "--liveness", default=None, help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz"
    )
    parser.add_argument(
        "--metrics", default=None, help="serve Prometheus metrics at host:port (or :port), e.g. :9090"
    )
    parser.add_argument("--standalone", action="store_true", help="no peering with other operator instances")
    parser.add_argument(
        "--resync-seconds",
        type=_positive,
        default=handlers.Timing.resync_seconds,
        help="full pass of every platform this often, to notice changes outside the cluster "
        "(a topic deleted, Kafka back); default %(default)s",
    )
    parser.add_argument(
        "--scale-seconds",
        type=_positive,
        default=handlers.Timing.scale_seconds,
        help="read the socket pods' open connections this often; default %(default)s",
    )
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text}")
    return value


def timing(args: argparse.Namespace) -> handlers.Timing:
    return handlers.Timing(
        resync_seconds=args.resync_seconds,
        # A short resync (tests, small clusters) also starts early; the default waits a minute.
        resync_delay_seconds=min(args.resync_seconds, handlers.Timing.resync_delay_seconds),
        scale_seconds=args.scale_seconds,
    )


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(verbose: bool) -> None:
    """kopf's formatter: a line about a platform (a retry, a failed handler) starts with
    `[namespace/name]`."""
    # A format string is accepted as well as a LogFormat (kopf's make_formatter), not in its hints.
    kopf.configure(verbose=verbose, log_format=LOG_FORMAT, log_prefix=True)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_logging(args.verbose)
    if not args.verbose:
        # One line per handled event of every child and per search request drowns what matters.
        for noisy in ("kopf.objects", "opensearch", "aiokafka"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    registry = handlers.register(kopf.OperatorRegistry(), timing(args))
    if args.metrics:
        metrics.serve(args.metrics)
    asyncio.run(
        kopf.operator(
            registry=registry,
            clusterwide=not args.namespace,
            namespaces=args.namespace or [],
            standalone=args.standalone,
            liveness_endpoint=args.liveness,
        )
    )
