{{/*
Names. The EPP objects (Deployment, Service, ServiceAccount, Role, config
ConfigMap) are "<release>-epp" as in upstream's charts; the pool is the
release name unless router.inferencePool.name is set.
*/}}
{{- define "switchyard.base" -}}
{{- .Release.Name | lower | trim | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchyard.name" -}}
{{- include "switchyard.base" . }}-epp
{{- end -}}

{{- define "switchyard.envoyConfigMap" -}}
{{- include "switchyard.base" . }}-envoy
{{- end -}}

{{- define "switchyard.poolName" -}}
{{- .Values.router.inferencePool.name | default .Release.Name -}}
{{- end -}}

{{/* Cluster-scoped names must be unique per release and namespace. */}}
{{- define "switchyard.clusterName" -}}
{{- printf "%s-%s-epp" (include "switchyard.base" .) (.Release.Namespace | lower | trunc 40 | trimSuffix "-") -}}
{{- end -}}

{{- define "switchyard.gatewayName" -}}
{{- .Values.gateway.name | default .Release.Name -}}
{{- end -}}

{{- define "switchyard.usePool" -}}
{{- if .Values.router.inferencePool.create }}true{{ end -}}
{{- end -}}

{{/*
The pool name objectives refer to: the created pool, else (endpoint-selector
mode) the name switchyard derives from POD_NAME, i.e. the Deployment's.
*/}}
{{- define "switchyard.objectivePool" -}}
{{- if include "switchyard.usePool" . -}}
{{- include "switchyard.poolName" . -}}
{{- else -}}
{{- include "switchyard.name" . -}}
{{- end -}}
{{- end -}}

{{- define "switchyard.labels" -}}
app.kubernetes.io/name: switchyard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: switchyard
{{- end -}}

{{/* The EPP's pods, Deployment and Service: a superset of the selector. */}}
{{- define "switchyard.eppLabels" -}}
{{ include "switchyard.labels" . }}
app.kubernetes.io/component: epp
{{- end -}}

{{/* Stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: switchyard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: epp
{{- end -}}

{{/* Upstream's mode label. */}}
{{- define "switchyard.modeLabels" -}}
{{- if include "switchyard.usePool" . -}}
inference.networking.k8s.io/igw-mode: inferencepool
{{- else -}}
inference.networking.k8s.io/igw-mode: standalone
{{- end -}}
{{- end -}}

{{- define "switchyard.image" -}}
{{- $i := .Values.router.epp.image -}}
{{- $tag := $i.tag | default .Chart.AppVersion -}}
{{- if $i.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $i.registry) $i.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $i.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* "k=v,k2=v2" from modelServers.matchLabels (sorted by key). */}}
{{- define "switchyard.endpointSelector" -}}
{{- $labels := list -}}
{{- range $k, $v := .Values.router.modelServers.matchLabels -}}
{{- $labels = append $labels (printf "%s=%s" $k (toString $v)) -}}
{{- end -}}
{{- join "," $labels -}}
{{- end -}}

{{/* "8000,8001" from modelServers.targetPorts. */}}
{{- define "switchyard.targetPorts" -}}
{{- $ports := list -}}
{{- range .Values.router.modelServers.targetPorts -}}
{{- $ports = append $ports (toString (int .number)) -}}
{{- end -}}
{{- join "," $ports -}}
{{- end -}}

{{/* The proxy's ext_proc health check needs switchyard's --health-checking. */}}
{{- define "switchyard.proxyHealthChecks" -}}
{{- if and .Values.router.proxy.enabled .Values.router.proxy.extProcHealthCheck }}true{{ end -}}
{{- end -}}

{{/*
Checks that templates cannot express in values.schema.json. Included once,
from deployment.yaml.
*/}}
{{- define "switchyard.validate" -}}
{{- $r := .Values.router -}}
{{- if and (or (eq .Values.mode "standalone") $r.inferencePool.create) (empty $r.modelServers.matchLabels) -}}
{{- fail "router.modelServers.matchLabels is required (the labels of the model-server pods), e.g. --set router.modelServers.matchLabels.app=my-model" -}}
{{- end -}}
{{- if empty $r.modelServers.targetPorts -}}
{{- fail "router.modelServers.targetPorts needs 1 to 8 ports" -}}
{{- end -}}
{{- if gt (len $r.modelServers.targetPorts) 8 -}}
{{- fail "router.modelServers.targetPorts needs 1 to 8 ports" -}}
{{- end -}}
{{- if and (eq .Values.mode "standalone") (not $r.proxy.enabled) (not $r.inferencePool.create) -}}
{{- fail "standalone mode without router.proxy.enabled and without an InferencePool serves nobody: enable one of them" -}}
{{- end -}}
{{- $files := keys ($r.epp.pluginsCustomConfig | default dict) -}}
{{- if and (ne $r.epp.pluginsConfigFile "default-plugins.yaml") (not (has $r.epp.pluginsConfigFile $files)) -}}
{{- fail (printf "router.epp.pluginsConfigFile %q is neither default-plugins.yaml nor a key of router.epp.pluginsCustomConfig" $r.epp.pluginsConfigFile) -}}
{{- end -}}
{{- if has "default-plugins.yaml" $files -}}
{{- fail "router.epp.pluginsCustomConfig must not redefine default-plugins.yaml: add your file under another name and set router.epp.pluginsConfigFile" -}}
{{- end -}}
{{- $owned := dict "secure-serving" "router.epp.secureServing" "cert-path" "router.epp.tls.secretName" "grpc-port" "router.epp.extProcPort" "grpc-health-port" "router.epp.grpcHealthPort" "metrics-port" "router.epp.metricsPort" "pool-name" "router.inferencePool.name" "pool-namespace" "the release namespace" "endpoint-selector" "router.modelServers.matchLabels" "endpoint-target-ports" "router.modelServers.targetPorts" "config-file" "router.epp.pluginsConfigFile" "config-text" "router.epp.pluginsConfigFile" "manifests" "nothing (the chart always uses the API server)" -}}
{{- range $k, $_ := ($r.epp.flags | default dict) -}}
{{- if hasKey $owned $k -}}
{{- fail (printf "router.epp.flags.%s: the chart sets --%s itself (and configures Envoy to match); use %s" $k $k (get $owned $k)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.httpRoute.create (not $r.inferencePool.create) -}}
{{- fail "httpRoute.create routes to the chart's InferencePool: it needs router.inferencePool.create" -}}
{{- end -}}
{{- if and (eq .Values.mode "gateway") (not $r.proxy.enabled) -}}
{{- fail "gateway mode needs router.proxy.enabled (Envoy is the Gateways' data plane)" -}}
{{- end -}}
{{- end -}}
