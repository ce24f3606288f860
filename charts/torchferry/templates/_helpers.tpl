{{/* Base name of every resource: fullnameOverride, else <release>-<chart> (the release alone when it already holds the chart name). */}}
{{- define "torchferry.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 44 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 44 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 44 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "torchferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Names of the two components (44 characters leave room for the longest suffix, "-webhook-selfsigned", within 63). */}}
{{- define "torchferry.operator.fullname" -}}
{{- printf "%s-operator" (include "torchferry.fullname" .) -}}
{{- end -}}

{{- define "torchferry.webhook.fullname" -}}
{{- printf "%s-webhook" (include "torchferry.fullname" .) -}}
{{- end -}}

{{- define "torchferry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "torchferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: torchferry
{{- end -}}

{{/* Selector labels of a component: (dict "root" $ "component" "operator"). */}}
{{- define "torchferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "torchferry.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "torchferry.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "torchferry.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "torchferry.webhook.serviceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create -}}
{{- default (include "torchferry.webhook.fullname" .) .Values.webhook.serviceAccount.name -}}
{{- else -}}
{{- required "webhook.serviceAccount.name is required when webhook.serviceAccount.create is false" .Values.webhook.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image: repository@digest, else repository:tag (appVersion by default). */}}
{{- define "torchferry.image" -}}
{{- $repository := required "image.repository is required: no public TorchFerry image is published; build it from the repository's Dockerfile, push it to your registry and set image.repository (docs/helm.md, \"The image\")" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The prepare-inputs init container's image: prepareInputs.image, else the deprecated serializer.image, else the chart's image. */}}
{{- define "torchferry.prepareInputsImage" -}}
{{- $image := .Values.prepareInputs.image | default (.Values.serializer).image -}}
{{- default (include "torchferry.image" .) $image -}}
{{- end -}}

{{/* The webhook Service's DNS names, as the API server dials it and as the certificate must name it. */}}
{{- define "torchferry.webhook.dnsNames" -}}
{{- $service := include "torchferry.webhook.fullname" . -}}
- {{ $service }}
- {{ $service }}.{{ .Release.Namespace }}
- {{ $service }}.{{ .Release.Namespace }}.svc
- {{ $service }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end -}}

{{- define "torchferry.webhook.tlsSecretName" -}}
{{- printf "%s-tls" (include "torchferry.webhook.fullname" .) -}}
{{- end -}}

{{/* Namespaces the webhook never mutates: system namespaces, its own (a webhook that mutates its own pods can deadlock its recovery), and the user's. */}}
{{- define "torchferry.webhook.excludedNamespaces" -}}
{{- $excluded := list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace -}}
{{- range .Values.webhook.excludedNamespaces -}}
{{- $excluded = append $excluded . -}}
{{- end -}}
{{- toJson ($excluded | uniq) -}}
{{- end -}}

{{/* Container and pod security settings shared by both components. */}}
{{- define "torchferry.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "torchferry.securityContext" -}}
{{- toYaml .Values.securityContext -}}
{{- end -}}
