"""Loopback ports of the dev stack, in one place; chosen away from the servers' usual defaults
so a system-wide PostgreSQL or Redis on the same machine does not collide with ours."""

HOST = "127.0.0.1"

POSTGRES = 15432
REDIS = 16379

# Assigned up front so components never collide; each component module uses its own.
KAFKA = 19092
KAFKA_CONTROLLER = 19093
OPENSEARCH = 19200
OPENSEARCH_TRANSPORT = 19300
S3 = 19000
SMTP = 11025
CLAMD = 13310  # clamd (INSTREAM), for the storage service's scans
SMTP_HTTP = 11080  # optional: a small reader for received mail, if the SMTP component wants one
# An SMSC for SMS (jsmpp's SMPP server simulator).
SMPP = 12775
ETCD = 12379
ETCD_PEER = 12380
KUBE_APISERVER = 16443
KUBE_CONTROLLER_MANAGER = 20257
KUBE_SCHEDULER = 20259
KWOK = 20247
# The real node. The kubelet serves on the pod bridge's address (where the apiserver reaches it for
# logs and exec); the rest stays on loopback. CoreDNS answers pods on the bridge address, port 53.
KUBELET = 20250
KUBELET_HEALTHZ = 20248
KUBE_PROXY_HEALTHZ = 20256
KUBE_PROXY_METRICS = 20249
COREDNS = 53
COREDNS_HEALTH = 20253
COREDNS_READY = 20254
# Kafka's second listener, on the pod bridge's address, advertised as such to pods.
KAFKA_PODS = 19094

# The entry point (Envoy): the one address a person opens; its admin stays on loopback, and /ready and
# /stats/prometheus of the admin are served on the health port.
ENVOY = 8080
ENVOY_ADMIN = 19901
ENVOY_HEALTH = 19902

# Observability: Prometheus (scrapes every process of the stack) and Zipkin (traces).
PROMETHEUS = 19090
ZIPKIN = 19411

# Parley's own services when run as local processes by the dev stack.
SERVICES = {
    "auth": 8001,
    "api": 8002,
    "socket": 8003,
    "consumer": 8004,
    "presence": 8005,
    "storage": 8006,
    "notification": 8007,
    "search": 8008,
    "web": 8009,
}
