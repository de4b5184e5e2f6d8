{{/* Names ------------------------------------------------------------------------------------ */}}

{{- define "parley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parley.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ChatPlatform's name prefixes every object the operator makes (<= 40 characters, CRD rule). */}}
{{- define "parley.platformName" -}}
{{- default .Release.Name .Values.platform.name -}}
{{- end -}}

{{/* An in-cluster server's objects: `<fullname>-<server>`. */}}
{{- define "parley.serverName" -}}
{{- printf "%s-%s" (include "parley.fullname" .ctx) .server | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* In-cluster DNS name of a server's Service. */}}
{{- define "parley.serverHost" -}}
{{- printf "%s.%s.svc" (include "parley.serverName" .) .ctx.Release.Namespace -}}
{{- end -}}

{{/* Labels: the recommended app.kubernetes.io/* set ---------------------------------------------- */}}

{{- define "parley.chartLabel" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "parley.labels" -}}
app.kubernetes.io/name: {{ include "parley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: parley
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{ include "parley.chartLabel" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A server's pods are named after the server (postgresql, kafka…), not `parley`: the operator's
NetworkPolicies select `app.kubernetes.io/name=parley` pods of the platform and must not catch them. */}}
{{- define "parley.serverSelectorLabels" -}}
app.kubernetes.io/name: {{ .server }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{- define "parley.serverLabels" -}}
{{ include "parley.serverSelectorLabels" . }}
app.kubernetes.io/version: {{ .version | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: parley
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{ include "parley.chartLabel" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Connection Secrets ------------------------------------------------------------------------- */}}

{{/* The Secret a section's connection comes from: the existing one, else the chart's own. */}}
{{- define "parley.connectionSecret" -}}
{{- $section := index .ctx.Values .server -}}
{{- default (include "parley.serverName" .) $section.existingSecret -}}
{{- end -}}

{{/* A credential: the value given, else the one already stored in the chart's Secret (so an upgrade
keeps it; `helm template` cannot look, and makes a new one), else a random one. */}}
{{- define "parley.credential" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $stored := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $stored $stored.data (hasKey $stored.data .key) -}}
{{- index $stored.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "parley.kafkaBootstrap" -}}
{{- if .Values.kafka.deploy -}}
{{- printf "%s:9092" (include "parley.serverHost" (dict "ctx" . "server" "kafka")) -}}
{{- else -}}
{{- .Values.kafka.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{/* Pod settings every in-cluster server shares. */}}
{{- define "parley.serverPodSpec" -}}
{{- with .Values.servers.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.servers.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
enableServiceLinks: false
{{- end -}}

{{/* A server's pod security context: the image's own user (uid), non-root, RuntimeDefault seccomp;
servers.podSecurityContext wins key by key. */}}
{{- define "parley.serverSecurityContext" -}}
{{- $defaults := dict "runAsNonRoot" true "runAsUser" .uid "runAsGroup" .uid "fsGroup" .uid "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (merge (deepCopy .ctx.Values.servers.podSecurityContext) $defaults) -}}
{{- end -}}

{{/* A server's data: a claim per pod, or an emptyDir when persistence is off (evaluation without a
storage provisioner). Call "parley.dataVolume" under the pod's volumes and "parley.volumeClaims" at
the end of the StatefulSet spec. */}}
{{- define "parley.dataVolume" -}}
{{- if not .persistence.enabled -}}
- name: data
  emptyDir: {}
{{- end -}}
{{- end -}}

{{- define "parley.volumeClaims" -}}
{{- if .persistence.enabled -}}
volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: ["ReadWriteOnce"]
      {{- with .persistence.storageClass }}
      storageClassName: {{ . }}
      {{- end }}
      resources:
        requests:
          storage: {{ .persistence.size }}
{{- end -}}
{{- end -}}
