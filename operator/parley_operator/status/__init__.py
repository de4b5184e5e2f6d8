"""Status: conditions per the Kubernetes API conventions, and the summary of one reconcile pass."""
