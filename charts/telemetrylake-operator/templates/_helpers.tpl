{{/*
fullname names every namespaced object of the release, and the ClusterRole and its binding.
A release called telemetrylake-operator (the documented one) gives the same names as
config/default.
*/}}
{{- define "telemetrylake-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
selectorLabels select the operator's pods. They never change across upgrades (a Deployment's
selector is immutable), and component=operator keeps them apart from the ingester pods, which
also carry app.kubernetes.io/name=telemetrylake.
*/}}
{{- define "telemetrylake-operator.selectorLabels" -}}
app.kubernetes.io/name: telemetrylake
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "telemetrylake-operator.labels" -}}
{{ include "telemetrylake-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "telemetrylake-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "telemetrylake-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* image renders repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "telemetrylake-operator.image" -}}
{{- printf "%s:%s" .repository (.tag | default .appVersion) -}}
{{- end -}}
