"""The ChatPlatform CRD, generated from the API models."""
