{{/* The chart name, or nameOverride. */}}
{{- define "qaas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: fullnameOverride, else the release name when it
holds the chart name (release "qaas" gives "qaas"), else <release>-<chart>.
Truncated to 63 characters, a DNS label.
*/}}
{{- define "qaas.fullname" -}}
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

{{/* The helm.sh/chart label: name-version. */}}
{{- define "qaas.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels that select the manager pods; they never change across upgrades. */}}
{{- define "qaas.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qaas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels of every resource of the chart. */}}
{{- define "qaas.labels" -}}
helm.sh/chart: {{ include "qaas.chart" . }}
{{ include "qaas.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: qaas
{{- end }}

{{/* The manager's ServiceAccount. */}}
{{- define "qaas.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "qaas.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator's image, repository:tag, or repository@sha256:... when the tag is a digest;
the tag defaults to the chart's appVersion.
*/}}
{{- define "qaas.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- printf "%s%s%s" .Values.image.repository (ternary "@" ":" (hasPrefix "sha256:" $tag)) $tag }}
{{- end }}

{{/* Whether the managers elect a leader: with several replicas, or when asked. */}}
{{- define "qaas.leaderElect" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.leaderElection.enabled }}true{{ end }}
{{- end }}
