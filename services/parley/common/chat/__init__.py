"""Chats, members, messages and their change log: the tables and write paths the api and the
consumer share (services never import each other, so this lives in common)."""
