"""Every pinned version of the dev stack, in one place."""

POSTGRES_MAJOR = "15"
REDIS_MAJOR = "7"

# Kubernetes control plane. The control plane is built from k8s.io/kubernetes; its staging modules
# (k8s.io/api, client-go, …) are published as v0.<minor>.<patch> of the same release.
KUBERNETES = "v1.36.3"
ETCD = "v3.6.16"
KWOK = "v0.8.0"
HELM = "v3.22.0"
