"""The consumer service: stores chat commands from Kafka in order, with per-chat seqs, and
publishes what it stored (worker.py)."""
