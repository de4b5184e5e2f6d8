"""The search service: stored events indexed into OpenSearch; search over what the caller may read."""
