{{/* The chart's name, and the release's full name (63 characters at most). */}}
{{- define "mimc-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mimc-bridge.fullname" -}}
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

{{- define "mimc-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mimc-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mimc-bridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mimc-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
A setting's value as the environment spells it: YAML numbers arrive as
float64 in Helm, so whole numbers are written without an exponent.
*/}}
{{- define "mimc-bridge.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* A setting by NAME, as a string ("" when unset). */}}
{{- define "mimc-bridge.setting" -}}
{{- $v := index .root.Values.settings .name -}}
{{- if not (kindIs "invalid" $v) -}}{{- include "mimc-bridge.envValue" $v -}}{{- end -}}
{{- end -}}

{{/* The port of HTTP_ADDR: the probes, the container port and the Service use it. */}}
{{- define "mimc-bridge.httpPort" -}}
{{- $addr := include "mimc-bridge.setting" (dict "root" . "name" "HTTP_ADDR") -}}
{{- $port := regexFind "[0-9]+$" $addr -}}
{{- if or (not $port) (not (hasSuffix (printf ":%s" $port) $addr)) -}}
{{- fail (printf "settings.HTTP_ADDR %q: the chart needs host:port (the probes and /metrics use it)" $addr) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{/* The Secret with the app secret and the SASL password. */}}
{{- define "mimc-bridge.secretName" -}}
{{- if .Values.secret.appSecret -}}
{{- include "mimc-bridge.fullname" . -}}
{{- else if .Values.secret.existingSecret -}}
{{- .Values.secret.existingSecret -}}
{{- else -}}
{{- fail "secret: set secret.existingSecret to the name of your Secret, or give secret.appSecret (--set-file secret.appSecret=FILE)" -}}
{{- end -}}
{{- end -}}

{{/*
GOMEMLIMIT in bytes: goMemLimitPercent of resources.limits.memory (a
Kubernetes quantity: a whole number with an optional Ki, Mi, Gi, Ti, k, M,
G or T suffix). Empty without a memory limit.
*/}}
{{- define "mimc-bridge.goMemLimit" -}}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) -}}
{{- if $limit -}}
{{- $q := include "mimc-bridge.envValue" $limit -}}
{{- $units := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- $n := regexFind "^[0-9]+" $q -}}
{{- $unit := trimPrefix $n $q -}}
{{- if or (not $n) (not (hasKey $units $unit)) -}}
{{- fail (printf "resources.limits.memory %q: the chart derives GOMEMLIMIT from a whole number with an optional Ki, Mi, Gi, Ti, k, M, G or T suffix" $q) -}}
{{- end -}}
{{- $pct := int64 .Values.goMemLimitPercent -}}
{{- if or (lt $pct 50) (gt $pct 95) -}}
{{- fail (printf "goMemLimitPercent %d: want 50 to 95" $pct) -}}
{{- end -}}
{{- div (mul (int64 $n) (int64 (get $units $unit)) $pct) 100 -}}
{{- end -}}
{{- end -}}
