"""Kopf operator for ChatPlatform resources."""
