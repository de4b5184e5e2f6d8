"""The Kubernetes control plane of the dev stack: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler built from the Go module proxy, kwok for fake nodes, and helm as a tool."""
