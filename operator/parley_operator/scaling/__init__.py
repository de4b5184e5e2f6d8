"""Socket scaling: the operator keeps the socket Deployment between minReplicas and maxReplicas so
that open WebSocket connections per pod stay under `targetConnectionsPerPod`.

`connections` reads the gauge from a pod's /metrics text, `decision` is the pure scaling rule and
`scaler` is the pass that lists the pods, scrapes them through the apiserver and sets the replicas.
"""
