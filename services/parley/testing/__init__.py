"""Pytest plugin: the dev stack's real servers, started once per session, isolated per test."""
