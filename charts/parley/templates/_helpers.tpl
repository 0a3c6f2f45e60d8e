{{/* Names ------------------------------------------------------------------------------------- */}}
{{- define "parley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parley.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of one target's objects: <fullname>-<target> ("all" in allInOne mode). */}}
{{- define "parley.targetName" -}}
{{- printf "%s-%s" (include "parley.fullname" .root) .target -}}
{{- end -}}

{{- define "parley.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "parley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: parley
{{- end -}}

{{/* Selector labels of one target: {root, target}. */}}
{{- define "parley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "parley.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .target }}
{{- end -}}

{{- define "parley.instanceSelector" -}}
app.kubernetes.io/name: {{ include "parley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "parley.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "parley.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "parley.secretName" -}}
{{- default (printf "%s-secrets" (include "parley.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "parley.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Targets ----------------------------------------------------------------------------------- */}}

{{/* The Deployments to make, as a JSON list: ["all"] in allInOne mode, else the enabled targets. */}}
{{- define "parley.deployments" -}}
{{- if eq .Values.mode "allInOne" -}}
{{- list "all" | toJson -}}
{{- else -}}
{{- $out := list -}}
{{- range $name := list "gateway" "auth" "messages" "delivery" "groups" "crypto" "presence" "media" -}}
{{- if (index $.Values.targets $name).enabled -}}{{- $out = append $out $name -}}{{- end -}}
{{- end -}}
{{- $out | toJson -}}
{{- end -}}
{{- end -}}

{{/* Whether a target runs the gateway (serves the public HTTP port): {root, target}. */}}
{{- define "parley.hasGateway" -}}
{{- if or (eq .target "all") (eq .target "gateway") -}}true{{- end -}}
{{- end -}}

{{/* Secret keys (= environment variable names) each target reads. */}}
{{- define "parley.secretKeys" -}}
{{- $keys := dict
  "gateway" (list "PARLEY_REDIS_URL" "PARLEY_MEDIA_URL_SECRET")
  "auth" (list "PARLEY_REDIS_URL" "PARLEY_AUTH_DATABASE_URL" "PARLEY_AUTH_SIGNING_KEY_SECRET")
  "messages" (list "PARLEY_REDIS_URL" "PARLEY_MESSAGES_DATABASE_URL" "PARLEY_MESSAGES_CQL_PASSWORD")
  "delivery" (list "PARLEY_REDIS_URL" "PARLEY_DELIVERY_DATABASE_URL")
  "groups" (list "PARLEY_REDIS_URL" "PARLEY_GROUPS_DATABASE_URL")
  "crypto" (list "PARLEY_REDIS_URL" "PARLEY_CRYPTO_KEK")
  "presence" (list "PARLEY_REDIS_URL")
  "media" (list "PARLEY_REDIS_URL" "PARLEY_MEDIA_DATABASE_URL" "PARLEY_MEDIA_S3_ACCESS_KEY_ID" "PARLEY_MEDIA_S3_SECRET_ACCESS_KEY" "PARLEY_MEDIA_URL_SECRET")
  "all" (list "PARLEY_CRYPTO_KEK" "PARLEY_AUTH_SIGNING_KEY_SECRET" "PARLEY_MEDIA_URL_SECRET")
-}}
{{- index $keys .target | toJson -}}
{{- end -}}

{{/* Keys that must be in the Secret (the pod does not start without them); the rest are optional. */}}
{{- define "parley.requiredSecretKeys" -}}
{{- list "PARLEY_CRYPTO_KEK" "PARLEY_AUTH_SIGNING_KEY_SECRET" | toJson -}}
{{- end -}}

{{/* A value for a ConfigMap: whole numbers without an exponent (Helm reads YAML numbers as floats). */}}
{{- define "parley.scalar" -}}
{{- if kindIs "float64" . -}}
{{- if eq (float64 (int64 .)) . -}}{{- int64 . -}}{{- else -}}{{- . -}}{{- end -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* The whole env of one target's container: {root, target}. */}}
{{- define "parley.env" -}}
{{- $root := .root -}}
{{- $target := .target -}}
{{- $v := $root.Values -}}
- name: PARLEY_TARGET
  value: {{ $target | quote }}
- name: PORT
  value: {{ $v.ports.http | quote }}
- name: PARLEY_ADMIN_PORT
  value: {{ $v.ports.admin | quote }}
- name: PARLEY_BIND_HOST
  value: "0.0.0.0"
- name: PARLEY_DATA_DIR
  value: /data
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_IP
  valueFrom: {fieldRef: {fieldPath: status.podIP}}
- name: OTEL_SERVICE_NAME
  value: {{ printf "parley-%s" $target | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "k8s.pod.name=$(POD_NAME),k8s.namespace.name=%s%s" $root.Release.Namespace (ternary (printf ",%s" $v.otel.resourceAttributes) "" (ne $v.otel.resourceAttributes "")) | quote }}
{{- if ne $target "all" }}
- name: PARLEY_GRPC_BIND_HOST
  value: "0.0.0.0"
{{- range $svc, $port := $v.grpcPorts }}
{{- if (index $v.targets $svc).enabled }}
{{- if eq $svc $target }}
- name: {{ printf "PARLEY_%s_LISTEN" (upper $svc) }}
  value: {{ printf "0.0.0.0:%d" (int $port) | quote }}
{{- else }}
- name: {{ printf "PARLEY_%s_ADDR" (upper $svc) }}
  value: {{ printf "%s-%s:%d" (include "parley.fullname" $root) $svc (int $port) | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $target "gateway" }}
- name: PARLEY_GATEWAY_NODE_ID
  value: "$(POD_NAME)"
- name: PARLEY_GATEWAY_PUSH_LISTEN
  value: {{ printf "0.0.0.0:%d" (int $v.ports.push) | quote }}
- name: PARLEY_GATEWAY_PUSH_ADDRESS
  value: {{ printf "$(POD_IP):%d" (int $v.ports.push) | quote }}
{{- end }}
{{- if $v.kafka.brokers }}
- name: PARLEY_KAFKA_BROKERS
  value: {{ join "," $v.kafka.brokers | quote }}
{{- end }}
{{- if and (eq $target "messages") $v.cql.contactPoints }}
- name: PARLEY_MESSAGES_CQL_CONTACT_POINTS
  value: {{ join "," $v.cql.contactPoints | quote }}
- name: PARLEY_MESSAGES_CQL_LOCAL_DC
  value: {{ $v.cql.localDc | quote }}
{{- if $v.cql.username }}
- name: PARLEY_MESSAGES_CQL_USERNAME
  value: {{ $v.cql.username | quote }}
{{- end }}
{{- end }}
{{- if and (eq $target "media") $v.s3.endpoint }}
- name: PARLEY_MEDIA_S3_ENDPOINT
  value: {{ $v.s3.endpoint | quote }}
- name: PARLEY_MEDIA_S3_REGION
  value: {{ $v.s3.region | quote }}
- name: PARLEY_MEDIA_S3_BUCKET
  value: {{ $v.s3.bucket | quote }}
- name: PARLEY_MEDIA_S3_FORCE_PATH_STYLE
  value: {{ $v.s3.forcePathStyle | quote }}
{{- end }}
{{- end }}
{{- if $v.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $v.otel.endpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $v.otel.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $v.otel.samplerArg | quote }}
{{- end }}
{{- $required := include "parley.requiredSecretKeys" $root | fromJsonArray }}
{{- range $key := include "parley.secretKeys" (dict "target" $target) | fromJsonArray }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "parley.secretName" $root }}
      key: {{ $key }}
      optional: {{ not (has $key $required) }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- $extra := ternary $v.allInOne.extraEnv (index $v.targets $target | default dict).extraEnv (eq $target "all") }}
{{- with $extra }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The restricted Pod Security Standard, for every pod the chart makes. */}}
{{- define "parley.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "parley.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
