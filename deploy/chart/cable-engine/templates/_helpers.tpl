{{/* Chart name. */}}
{{- define "cable-engine.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, with the chart name appended unless it already contains it. */}}
{{- define "cable-engine.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Namespace of every object, and SUBMARINER_NAMESPACE. */}}
{{- define "cable-engine.namespace" -}}
{{- default .Release.Namespace .Values.namespace -}}
{{- end -}}

{{/* Labels selecting the pods. */}}
{{- define "cable-engine.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cable-engine.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{/* Labels of every object. */}}
{{- define "cable-engine.labels" -}}
{{ include "cable-engine.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* ServiceAccount name. */}}
{{- define "cable-engine.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cable-engine.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the PSK: created from psk.value, or psk.existingSecret. */}}
{{- define "cable-engine.pskSecretName" -}}
{{- if (.Values.psk.value | default "" | toString | trim) -}}
{{- printf "%s-psk" (include "cable-engine.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- required "set psk.value (the PSK text) or psk.existingSecret (a Secret with key psk)" .Values.psk.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* The image reference. */}}
{{- define "cable-engine.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | toString) -}}
{{- end -}}
