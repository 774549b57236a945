{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "acs-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name; the release name alone when it already contains the chart name.
*/}}
{{- define "acs-exporter.fullname" -}}
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

{{- define "acs-exporter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "acs-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "acs-exporter.labels" -}}
helm.sh/chart: {{ include "acs-exporter.chart" . }}
{{ include "acs-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ include "acs-exporter.imageTag" . | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: acs-exporter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "acs-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "acs-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "acs-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "acs-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "acs-exporter.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
The image reference: global.imageRegistry (a parent chart's, shared by every subchart) wins over
image.registry, as in the prometheus-community charts.
*/}}
{{- define "acs-exporter.image" -}}
{{- $repository := .Values.image.repository }}
{{- $registry := (.Values.global | default dict).imageRegistry | default .Values.image.registry }}
{{- if $registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" $registry) .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (include "acs-exporter.imageTag" .) }}
{{- end }}
{{- end }}

{{- define "acs-exporter.configMapName" -}}
{{- default (include "acs-exporter.fullname" .) .Values.existingConfigMap }}
{{- end }}

{{- define "acs-exporter.claimName" -}}
{{- default (include "acs-exporter.fullname" .) .Values.persistence.existingClaim }}
{{- end }}

{{/*
Container port: the port of config.web.listen_address (host:port or [v6]:port).
*/}}
{{- define "acs-exporter.containerPort" -}}
{{- $address := .Values.config.web.listen_address | toString }}
{{- $port := regexFind "[0-9]+$" $address }}
{{- if not $port }}
{{- fail (printf "config.web.listen_address: %q has no port (expected host:port, e.g. 0.0.0.0:10142)" $address) }}
{{- end }}
{{- $port }}
{{- end }}

{{/*
"true" when the checkpoint lives in an Azure blob (config.state.backend azure_blob): two
replicas (a leader and a hot standby), rolled one at a time, no state volume.
*/}}
{{- define "acs-exporter.blobState" -}}
{{- $state := .Values.config.state | default dict }}
{{- if eq (toString $state.backend) "azure_blob" }}true{{ end }}
{{- end }}

{{/*
The state directory the volume is mounted on; config.state.path must live under it.
*/}}
{{- define "acs-exporter.stateDir" -}}
/var/lib/acs-exporter
{{- end }}

{{/*
Refuse value combinations that would deploy something broken, with a message naming the keys.
*/}}
{{- define "acs-exporter.validate" -}}
{{- $wi := .Values.azure.workloadIdentity }}
{{- if and $wi.enabled .Values.azure.servicePrincipal.existingSecret }}
{{- fail "azure.workloadIdentity.enabled and azure.servicePrincipal.existingSecret are exclusive: choose one way to authenticate" }}
{{- end }}
{{- if and $wi.enabled .Values.serviceAccount.create (not $wi.clientId) }}
{{- fail "azure.workloadIdentity.clientId is required when azure.workloadIdentity.enabled is true (the managed identity's client id)" }}
{{- end }}
{{- if and (include "acs-exporter.otlpHeadersInValues" .) .Values.otlpHeaders.existingSecret }}
{{- fail "config.otlp.headers and otlpHeaders.existingSecret are exclusive: keep the headers in one place (the existing Secret, as a JSON object)" }}
{{- end }}
{{- $address := .Values.config.web.listen_address | default "" | toString }}
{{- $host := regexReplaceAll ":[0-9]*$" $address "" | trimPrefix "[" | trimSuffix "]" }}
{{- if or (hasPrefix "127." $host) (eq $host "localhost" "::1") }}
{{- fail (printf "config.web.listen_address: %q listens on loopback only: the kubelet probes and Prometheus reach the pod IP, so the pod would fail its probes forever; use 0.0.0.0:PORT or [::]:PORT" $address) }}
{{- end }}
{{- range .Values.extraArgs }}
{{- $flag := regexReplaceAll "=.*$" (toString .) "" }}
{{- if has $flag (list "--web.listen-address" "--config.file") }}
{{- fail (printf "extraArgs: %s is set by the chart (from config.web.listen_address, which also sets the container port and the probes; --config.file is the mounted ConfigMap): set config.web.listen_address or existingConfigMap instead" $flag) }}
{{- end }}
{{- end }}
{{- $web := .Values.web }}
{{- if and $web.tls.enabled (not $web.tls.existingSecret) (not $web.existingSecret) (not $web.existingConfigMap) }}
{{- fail "web.tls.enabled needs web.tls.existingSecret: the kubernetes.io/tls Secret holding tls.crt and tls.key (or web.existingSecret / web.existingConfigMap with your own web config)" }}
{{- end }}
{{- range $key := list "existingSecret" "existingConfigMap" }}
{{- if get $web $key }}
{{- if $web.basicAuth.users }}
{{- fail (printf "web.%s and web.basicAuth.users are exclusive: put the users into the existing web config" $key) }}
{{- end }}
{{- if $web.config }}
{{- fail (printf "web.%s and web.config are exclusive: put those keys into the existing web config" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $web.existingSecret $web.existingConfigMap }}
{{- fail "web.existingSecret and web.existingConfigMap are exclusive: the web config comes from one of them" }}
{{- end }}
{{- if and ($web.config | default dict).tls_server_config (not $web.tls.enabled) }}
{{- fail "web.config.tls_server_config needs web.tls.enabled: true (with web.tls.existingSecret), or the probes and the ServiceMonitor would speak plain HTTP to an HTTPS port" }}
{{- end }}
{{- if and (include "acs-exporter.webConfigMounted" .) .Values.config.web.config_file }}
{{- fail (printf "config.web.config_file (%s) and web.tls / web.basicAuth / web.config / web.existingSecret / web.existingConfigMap are exclusive: the chart sets config.web.config_file to the web config it mounts" .Values.config.web.config_file) }}
{{- end }}
{{- if not .Values.existingConfigMap }}
{{- /* Source names key the checkpoint and the `source` label: the exporter refuses duplicates
     (defaults included), which JSON Schema cannot see. Defaults as in the settings models. */}}
{{- $defaultNames := dict "simulator" "simulator" "files" "files" "log_analytics" "log-analytics" }}
{{- $seen := dict }}
{{- range $index, $source := (.Values.config.sources | default list) }}
{{- $name := toString (default (get $defaultNames (toString $source.type)) $source.name) }}
{{- if hasKey $seen $name }}
{{- fail (printf "config.sources[%d]: source name %q is already used by config.sources[%v]; names key the checkpoint and the `source` label: give each source its own `name`" $index $name (get $seen $name)) }}
{{- end }}
{{- $_ := set $seen $name $index }}
{{- end }}
{{- $statePath := .Values.config.state.path | default "" | toString }}
{{- $stateDir := include "acs-exporter.stateDir" . }}
{{- if include "acs-exporter.blobState" . }}
{{- $blob := .Values.config.state.azure_blob | default dict }}
{{- if not $blob.container_url }}
{{- fail "config.state.backend azure_blob needs config.state.azure_blob.container_url (https://<account>.blob.core.windows.net/<container>)" }}
{{- end }}
{{- else if or (not (hasPrefix (printf "%s/" $stateDir) $statePath)) (hasSuffix "/" $statePath) (contains "/../" $statePath) (contains "/./" $statePath) }}
{{- fail (printf "config.state.path: %q must be a file under %s/ (the only writable volume; the root filesystem is read-only)" $statePath $stateDir) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The exporter configuration the ConfigMap carries: `config` without anything secret. OTLP
headers (credentials) go to a Secret and reach the exporter as ACS_EXPORTER_OTLP__HEADERS,
which the exporter merges into the file's otlp section.
*/}}
{{- define "acs-exporter.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if kindIs "map" $config.otlp }}
{{- $_ := unset $config.otlp "headers" }}
{{- end }}
{{- if include "acs-exporter.webConfigMounted" . }}
{{- $_ := set $config "web" (merge (dict "config_file" (include "acs-exporter.webConfigFile" .)) (default dict $config.web)) }}
{{- end }}
{{- with .Values.catalogOverrides }}
{{- $catalog := default dict $config.catalog }}
{{- $overrides := concat ($catalog.overrides | default list) (include "acs-exporter.catalogFiles" $ | fromJsonArray) }}
{{- $_ := set $config "catalog" (merge (dict "overrides" $overrides) $catalog) }}
{{- end }}
{{- if include "acs-exporter.blobState" . }}
{{- /* The blob is the checkpoint: the exporter refuses a state.path with this backend. */}}
{{- $_ := set $config "state" (omit (default dict $config.state) "path") }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
OTLP headers: "" when there are none, else the Secret and key the pod reads them from.
*/}}
{{- define "acs-exporter.otlpHeadersInValues" -}}
{{- $otlp := .Values.config.otlp | default dict }}
{{- if $otlp.headers }}true{{ end }}
{{- end }}

{{- define "acs-exporter.otlpHeadersSecretName" -}}
{{- if .Values.otlpHeaders.existingSecret }}
{{- .Values.otlpHeaders.existingSecret }}
{{- else if include "acs-exporter.otlpHeadersInValues" . }}
{{- printf "%s-otlp-headers" (include "acs-exporter.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Environment of the exporter container (a YAML list, empty when none): credentials by
secretKeyRef only, never as a value.
*/}}
{{- define "acs-exporter.env" -}}
{{- with .Values.azure.servicePrincipal }}
{{- if .existingSecret }}
- name: AZURE_CLIENT_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .clientIdKey }}
- name: AZURE_TENANT_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .tenantIdKey }}
- name: AZURE_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .clientSecretKey }}
{{- end }}
{{- end }}
{{- with include "acs-exporter.otlpHeadersSecretName" . }}
- name: ACS_EXPORTER_OTLP__HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.otlpHeaders.key }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The web config (TLS, basic auth): "true" when the chart mounts one (chart-made or existing).
*/}}
{{- define "acs-exporter.webConfigMounted" -}}
{{- $web := .Values.web }}
{{- if or $web.existingSecret $web.existingConfigMap $web.tls.enabled $web.basicAuth.users $web.config }}true{{ end }}
{{- end }}

{{/*
"true" when the chart writes the web config Secret itself (no existing Secret or ConfigMap).
*/}}
{{- define "acs-exporter.webConfigChartMade" -}}
{{- $web := .Values.web }}
{{- if and (include "acs-exporter.webConfigMounted" .) (not $web.existingSecret) (not $web.existingConfigMap) }}true{{ end }}
{{- end }}

{{- define "acs-exporter.webConfigSecretName" -}}
{{- default (printf "%s-web-config" (include "acs-exporter.fullname" .) | trunc 63 | trimSuffix "-") .Values.web.existingSecret }}
{{- end }}

{{- define "acs-exporter.webConfigFile" -}}
/etc/acs-exporter-web/web-config.yml
{{- end }}

{{- define "acs-exporter.tlsDir" -}}
/etc/acs-exporter-tls
{{- end }}

{{/*
Scheme of /metrics, /healthz and /readyz: HTTPS exactly when the chart enables TLS.
*/}}
{{- define "acs-exporter.scheme" -}}
{{- if .Values.web.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/*
A probe from values (YAML), switched to HTTPS with TLS unless it names its own scheme.
*/}}
{{- define "acs-exporter.probe" -}}
{{- $probe := deepCopy .probe }}
{{- /* Helm merges a user's tcpSocket/exec/grpc probe into the default httpGet one, which the
     API refuses (one handler only): the user's handler wins. */}}
{{- if or $probe.tcpSocket $probe.exec $probe.grpc }}
{{- $_ := unset $probe "httpGet" }}
{{- end }}
{{- if and .root.Values.web.tls.enabled (kindIs "map" $probe.httpGet) (not (hasKey $probe.httpGet "scheme")) }}
{{- $_ := set $probe.httpGet "scheme" "HTTPS" }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/*
Files the configuration names that lie on no volume the pod mounts (one "key: path" a line).
Only a warning: a custom image may hold them.
*/}}
{{- define "acs-exporter.unmountedFiles" -}}
{{- $mounted := list (printf "%s/" (include "acs-exporter.stateDir" .)) "/tmp/" (printf "%s/" (include "acs-exporter.tlsDir" .)) }}
{{- if .Values.catalogOverrides }}
{{- $mounted = append $mounted (printf "%s/" (include "acs-exporter.catalogDir" .)) }}
{{- end }}
{{- range .Values.extraVolumeMounts }}
{{- $mounted = append $mounted (printf "%s/" (trimSuffix "/" (toString .mountPath))) }}
{{- end }}
{{- $files := list }}
{{- $config := .Values.config }}
{{- if and $config.web.config_file (not (include "acs-exporter.webConfigMounted" .)) }}
{{- $files = append $files (list "config.web.config_file" $config.web.config_file) }}
{{- end }}
{{- $tlsServer := (.Values.web.config | default dict).tls_server_config | default dict }}
{{- range $key := list "cert_file" "key_file" "client_ca_file" }}
{{- with get $tlsServer $key }}
{{- $files = append $files (list (printf "web.config.tls_server_config.%s" $key) .) }}
{{- end }}
{{- end }}
{{- range $index, $path := ($config.catalog.overrides | default list) }}
{{- $files = append $files (list (printf "config.catalog.overrides[%d]" $index) $path) }}
{{- end }}
{{- range $index, $source := ($config.sources | default list) }}
{{- range $p, $path := ($source.paths | default list) }}
{{- $files = append $files (list (printf "config.sources[%d].paths[%d]" $index $p) $path) }}
{{- end }}
{{- with $source.tls_ca_file }}
{{- $files = append $files (list (printf "config.sources[%d].tls_ca_file" $index) .) }}
{{- end }}
{{- with $source.record_file }}
{{- $files = append $files (list (printf "config.sources[%d].record_file" $index) .) }}
{{- end }}
{{- end }}
{{- range $files }}
{{- $key := index . 0 }}
{{- $path := toString (index . 1) }}
{{- $onVolume := false }}
{{- range $mounted }}{{ if hasPrefix . $path }}{{ $onVolume = true }}{{ end }}{{ end }}
{{- if and (hasPrefix "/" $path) (not $onVolume) }}
{{ $key }}: {{ $path }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Catalog overrides from values (catalogOverrides): one file each, on one projected volume.
*/}}
{{- define "acs-exporter.catalogDir" -}}
/etc/acs-exporter-catalog
{{- end }}

{{- define "acs-exporter.catalogConfigMapName" -}}
{{- printf "%s-catalog" (include "acs-exporter.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The mounted override files in order, as a JSON list of paths; refuses two files of one name
(the second would hide the first on the volume).
*/}}
{{- define "acs-exporter.catalogFiles" -}}
{{- $dir := include "acs-exporter.catalogDir" . }}
{{- $paths := list }}
{{- $seen := dict }}
{{- range $index, $item := .Values.catalogOverrides | default list }}
{{- $name := toString (default $item.key $item.name) }}
{{- if hasKey $seen $name }}
{{- fail (printf "catalogOverrides[%d]: file name %q is already used by catalogOverrides[%v]: give one of them its own `name`" $index $name (get $seen $name)) }}
{{- end }}
{{- $_ := set $seen $name $index }}
{{- $paths = append $paths (printf "%s/%s" $dir $name) }}
{{- end }}
{{- toJson $paths }}
{{- end }}

{{/*
The projected volume's sources: the chart-made ConfigMap's keys, existing ConfigMaps' and
Secrets' keys, each under its file name.
*/}}
{{- define "acs-exporter.catalogVolumeSources" -}}
{{- $chartMade := include "acs-exporter.catalogConfigMapName" . }}
{{- range .Values.catalogOverrides | default list }}
{{- $name := toString (default .key .name) }}
{{- if hasKey . "content" }}
- configMap:
    name: {{ $chartMade }}
    items:
      - {key: {{ $name | quote }}, path: {{ $name | quote }}}
{{- else if .configMap }}
- configMap:
    name: {{ .configMap }}
    items:
      - {key: {{ .key | quote }}, path: {{ $name | quote }}}
{{- else }}
- secret:
    name: {{ .secret }}
    items:
      - {key: {{ .key | quote }}, path: {{ $name | quote }}}
{{- end }}
{{- end }}
{{- end }}

{{/*
Milliseconds of a Prometheus duration (1h30m, 500ms, 1w), as the operator's Duration pattern
allows; the schema has checked the form already.
*/}}
{{- define "acs-exporter.durationMs" -}}
{{- $units := dict "y" 31536000000 "w" 604800000 "d" 86400000 "h" 3600000 "m" 60000 "s" 1000 "ms" 1 }}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+(ms|[ywdhms])" (toString .) -1 }}
{{- $number := regexFind "^[0-9]+" . }}
{{- $total = add $total (mul (int64 $number) (get $units (trimPrefix $number .))) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
ServiceMonitor settings Prometheus or the exporter would defeat: refused naming the keys.
*/}}
{{- define "acs-exporter.validateServiceMonitor" -}}
{{- $monitor := .Values.serviceMonitor }}
{{- if and $monitor.interval $monitor.scrapeTimeout }}
{{- if gt (int64 (include "acs-exporter.durationMs" $monitor.scrapeTimeout)) (int64 (include "acs-exporter.durationMs" $monitor.interval)) }}
{{- fail (printf "serviceMonitor.scrapeTimeout (%s) is longer than serviceMonitor.interval (%s): Prometheus refuses such a scrape config, so the exporter would go unscraped; shorten the timeout or lengthen the interval" $monitor.scrapeTimeout $monitor.interval) }}
{{- end }}
{{- end }}
{{- $maxSeries := ((.Values.config | default dict).metrics | default dict).max_series }}
{{- if and $monitor.sampleLimit $maxSeries (not .Values.existingConfigMap) }}
{{- if le (int64 $monitor.sampleLimit) (int64 $maxSeries) }}
{{- fail (printf "serviceMonitor.sampleLimit (%d) is not above config.metrics.max_series (%d): once the exporter holds that many series every scrape fails whole; set it above max_series plus the exporter's own series" (int64 $monitor.sampleLimit) (int64 $maxSeries)) }}
{{- end }}
{{- end }}
{{- end }}
