{{/*
Names, labels and the derived numbers every template shares.
*/}}

{{- define "uipath-fleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "uipath-fleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-coordinator" and "<fullname>-worker", kept within 63 characters. */}}
{{- define "uipath-fleet.coordinator.fullname" -}}
{{- printf "%s-coordinator" (include "uipath-fleet.fullname" . | trunc 51 | trimSuffix "-") }}
{{- end }}
{{- define "uipath-fleet.worker.fullname" -}}
{{- printf "%s-worker" (include "uipath-fleet.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{- define "uipath-fleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "uipath-fleet.labels" -}}
helm.sh/chart: {{ include "uipath-fleet.chart" . }}
app.kubernetes.io/name: {{ include "uipath-fleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "worker"). */}}
{{- define "uipath-fleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "uipath-fleet.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "uipath-fleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "uipath-fleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read their credentials from (envFrom). */}}
{{- define "uipath-fleet.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- printf "%s-credentials" (include "uipath-fleet.fullname" .) }}
{{- end }}
{{- end }}

{{- define "uipath-fleet.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The queue prefix: broker.prefix and redis.prefix in fleet.toml. */}}
{{- define "uipath-fleet.prefix" -}}
{{- .Values.config.prefix }}
{{- end }}

{{/*
Requests a minute one busy worker makes: autoscaling.requestsPerMinutePerWorker, or when
that is 0, worker.concurrency slots at one page a second (the slow end of a page's
0.2-1 s), i.e. concurrency x 60. Taking the slow end gives the largest worker count that
can still be busy, so the maximum below never starves the budget.
*/}}
{{- define "uipath-fleet.autoscaling.requestsPerWorker" -}}
{{- $perWorker := int .Values.autoscaling.requestsPerMinutePerWorker }}
{{- if le $perWorker 0 }}
{{- $perWorker = mul (int .Values.worker.concurrency) 60 }}
{{- end }}
{{- $perWorker }}
{{- end }}

{{/* The tenants sharing the budget: autoscaling.tenants, or when 0 the number of sources. */}}
{{- define "uipath-fleet.autoscaling.tenants" -}}
{{- $tenants := int .Values.autoscaling.tenants }}
{{- if le $tenants 0 }}
{{- $tenants = len .Values.config.sources }}
{{- end }}
{{- max $tenants 1 }}
{{- end }}

{{/*
The workers' maximum replica count:

  derived = ceil(tenants x requestsPerMinutePerTenant / requestsPerWorker)
  max     = max(derived, minReplicas), then at most autoscaling.maxReplicas when it is > 0

More workers than the tenants' budgets can feed would only wait on the rate limiter.
*/}}
{{- define "uipath-fleet.autoscaling.maxReplicas" -}}
{{- $tenants := int (include "uipath-fleet.autoscaling.tenants" .) }}
{{- $perWorker := int (include "uipath-fleet.autoscaling.requestsPerWorker" .) }}
{{- $budget := mul $tenants (int .Values.autoscaling.requestsPerMinutePerTenant) }}
{{- $derived := div (sub (add $budget $perWorker) 1) $perWorker }}
{{- $max := max $derived (int .Values.autoscaling.minReplicas) }}
{{- $cap := int .Values.autoscaling.maxReplicas }}
{{- if gt $cap 0 }}
{{- $max = min $max $cap }}
{{- end }}
{{- max $max (int .Values.autoscaling.minReplicas) }}
{{- end }}

{{/* Whether the worker scales with KEDA: enabled, and the CRD is served (or the check is skipped). */}}
{{- define "uipath-fleet.autoscaling.useKeda" -}}
{{- if and .Values.autoscaling.enabled .Values.autoscaling.keda.enabled (or .Values.autoscaling.keda.skipCapabilityCheck (.Capabilities.APIVersions.Has "keda.sh/v1alpha1")) }}true{{- end }}
{{- end }}

{{/* The drain deadline must leave the pod time to exit before Kubernetes kills it. */}}
{{- define "uipath-fleet.worker.checkGracePeriod" -}}
{{- if le (int .Values.worker.terminationGracePeriodSeconds) (int .Values.worker.drainDeadlineSecs) }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must exceed worker.drainDeadlineSecs (%d): SIGTERM drains for up to drainDeadlineSecs before the worker exits" (int .Values.worker.terminationGracePeriodSeconds) (int .Values.worker.drainDeadlineSecs)) }}
{{- end }}
{{- end }}

{{/* A refresh token is a long-lived user credential: the fleet refuses to store one
unsealed, so a refresh-token source needs a key or the explicit opt-out. */}}
{{- define "uipath-fleet.checkTokenSealing" -}}
{{- if not (or .Values.config.tokenEncryptionKeyEnv .Values.config.allowUnsealedRefreshTokens) }}
{{- range .Values.config.sources }}
{{- if eq .auth.method "refresh-token" }}
{{- fail (printf "config.sources %s uses refresh-token: set config.tokenEncryptionKeyEnv (and put the key in the Secret under that name) or, knowingly, config.allowUnsealedRefreshTokens: true" .name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod-level and container-level security settings and the /tmp volume. */}}
{{- define "uipath-fleet.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}
