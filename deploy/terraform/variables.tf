# ---------------------------------------------------------------- general

variable "name" {
  description = "Prefix of every Kubernetes object the module creates (sawmill-ingest, sawmill-nats, ...)."
  type        = string
  default     = "sawmill"
}

variable "namespace" {
  description = "Namespace Sawmill, NATS and the ClickHouseInstallation run in."
  type        = string
  default     = "sawmill"
}

variable "create_namespace" {
  description = "Create the namespace; false when it already exists."
  type        = bool
  default     = true
}

variable "image" {
  description = "The sawmill container image built from the repository's Dockerfile, e.g. registry.example.com/sawmill:1.4.0."
  type        = string
}

variable "image_pull_policy" {
  description = "Image pull policy of the sawmill containers."
  type        = string
  default     = "IfNotPresent"
}

variable "image_pull_secrets" {
  description = "Names of existing docker-registry Secrets for pulling the image."
  type        = list(string)
  default     = []
}

variable "log_level" {
  description = "SAWMILL_LOG_LEVEL of every role: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "extra_env" {
  description = "More SAWMILL_* settings for every role, put in the ConfigMap (e.g. SAWMILL_WRITER_BATCH_ROWS = \"50000\"). Every flag has one: -a.b-c is SAWMILL_A_B_C."
  type        = map(string)
  default     = {}
}

variable "node_selector" {
  description = "Node labels the Sawmill pods must run on."
  type        = map(string)
  default     = {}
}

variable "pod_annotations" {
  description = "Annotations added to every Sawmill pod, beside the prometheus.io/* scrape annotations."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------- roles

variable "replicas" {
  description = "Pods per role. For ingest and query it applies only when their autoscaling is disabled (the HPA owns the count otherwise). Run at least 2 of each for availability: every role is safe to replicate."
  type        = map(number)
  default = {
    ingest  = 2
    query   = 2
    billing = 2
    alerts  = 2
  }

  validation {
    condition     = alltrue([for r in ["ingest", "query", "billing", "alerts"] : contains(keys(var.replicas), r)]) && alltrue([for n in values(var.replicas) : n >= 0 && floor(n) == n])
    error_message = "replicas needs a whole, non-negative count for each of ingest, query, billing and alerts."
  }
}

variable "resources" {
  description = "CPU and memory requests and limits per role (Kubernetes quantities). docs/operations.md \"Sizing\" gives the figures behind the defaults."
  type = map(object({
    requests_cpu    = string
    requests_memory = string
    limits_cpu      = string
    limits_memory   = string
  }))
  default = {
    ingest  = { requests_cpu = "1", requests_memory = "512Mi", limits_cpu = "2", limits_memory = "2Gi" }
    query   = { requests_cpu = "500m", requests_memory = "512Mi", limits_cpu = "2", limits_memory = "2Gi" }
    billing = { requests_cpu = "100m", requests_memory = "128Mi", limits_cpu = "1", limits_memory = "512Mi" }
    alerts  = { requests_cpu = "100m", requests_memory = "128Mi", limits_cpu = "1", limits_memory = "512Mi" }
  }

  validation {
    condition     = alltrue([for r in ["ingest", "query", "billing", "alerts"] : contains(keys(var.resources), r)])
    error_message = "resources needs an entry for each of ingest, query, billing and alerts."
  }
}

variable "autoscaling" {
  description = "HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation of the requests) for ingest and query."
  type = map(object({
    enabled            = optional(bool, true)
    min_replicas       = optional(number, 2)
    max_replicas       = optional(number, 10)
    cpu_target_percent = optional(number, 70)
  }))
  default = {
    ingest = {}
    query  = {}
  }

  validation {
    condition     = alltrue([for r in keys(var.autoscaling) : contains(["ingest", "query"], r)])
    error_message = "autoscaling applies to ingest and query only (billing and alerts do background work whose load does not grow with their pod count)."
  }

  validation {
    condition     = alltrue([for a in values(var.autoscaling) : a.min_replicas >= 1 && a.max_replicas >= a.min_replicas && a.cpu_target_percent > 0 && a.cpu_target_percent <= 100])
    error_message = "autoscaling: need 1 <= min_replicas <= max_replicas and 0 < cpu_target_percent <= 100."
  }
}

variable "alerts_public_url" {
  description = "Base URL of search links in alert notifications (SAWMILL_ALERTS_PUBLIC_URL). Empty: https://<ingress_host>."
  type        = string
  default     = ""
}

# ---------------------------------------------------------------- secrets

variable "jwt_existing_secret" {
  description = "Existing Secret in the namespace with key jwt-key (the session signing key, at least 32 bytes, shared by every role) and optionally operator-key (enables /v1/operator on billing). Empty: the module creates one from jwt_key and operator_key."
  type        = string
  default     = ""
}

variable "jwt_key" {
  description = "Session signing key (at least 32 bytes) for the Secret the module creates when jwt_existing_secret is empty."
  type        = string
  default     = ""
  sensitive   = true
}

variable "operator_key" {
  description = "Operator credential for /v1/operator/... in the Secret the module creates; empty disables the operator API."
  type        = string
  default     = ""
  sensitive   = true
}

# ---------------------------------------------------------------- NATS

variable "nats_install" {
  description = "Install a NATS JetStream cluster with the official nats Helm chart. false: use an external NATS whose URL is in the NATS Secret (key url)."
  type        = bool
  default     = true
}

variable "nats_chart_version" {
  description = "Version of the nats Helm chart (https://nats-io.github.io/k8s/helm/charts/); the values follow its 1.x schema."
  type        = string
  default     = "1.2.4"
}

variable "nats_cluster_size" {
  description = "NATS server pods of the installed cluster (3 tolerates the loss of one)."
  type        = number
  default     = 3
}

variable "nats_storage_size" {
  description = "JetStream file store volume per NATS pod. The LOGS stream keeps batches 24 h (bounded by 10 GiB by default); size for the KV buckets plus that."
  type        = string
  default     = "20Gi"
}

variable "nats_storage_class" {
  description = "Storage class of the JetStream volumes (block storage, not NFS); empty: the cluster default."
  type        = string
  default     = ""
}

variable "nats_stream_replicas" {
  description = "Replicas of Sawmill's JetStream stream and KV buckets (SAWMILL_NATS_REPLICAS): 3 on a 3-node cluster, 1 on a single server."
  type        = number
  default     = 3

  validation {
    condition     = contains([1, 3, 5], var.nats_stream_replicas)
    error_message = "nats_stream_replicas must be 1, 3 or 5."
  }
}

variable "nats_existing_secret" {
  description = "Existing Secret with the NATS credentials: keys username and password (installed NATS: the server is configured with them), or key url (external NATS: the full client URL list, credentials included, e.g. nats://user:pass@nats-0:4222,nats://user:pass@nats-1:4222). Empty: the module creates one from nats_username/nats_password or nats_url."
  type        = string
  default     = ""
}

variable "nats_username" {
  description = "NATS user Sawmill connects as (installed NATS, Secret created by the module)."
  type        = string
  default     = "sawmill"
}

variable "nats_password" {
  description = "NATS password (installed NATS, Secret created by the module). It is placed in a URL: use URL-safe characters (letters, digits, - _ . ~), e.g. a hex string."
  type        = string
  default     = ""
  sensitive   = true
}

variable "nats_url" {
  description = "External NATS client URL(s), comma-separated, credentials included (nats_install = false, Secret created by the module)."
  type        = string
  default     = ""
  sensitive   = true
}

# ---------------------------------------------------------------- ClickHouse

variable "clickhouse_mode" {
  description = "external: an existing ClickHouse at clickhouse_addr. operator: a ClickHouseInstallation managed by the Altinity clickhouse-operator (installed beforehand, with its CRDs)."
  type        = string
  default     = "external"

  validation {
    condition     = contains(["external", "operator"], var.clickhouse_mode)
    error_message = "clickhouse_mode must be external or operator."
  }
}

variable "clickhouse_addr" {
  description = "External ClickHouse native-protocol address host:port (usually port 9000), for clickhouse_mode = external."
  type        = string
  default     = ""
}

variable "clickhouse_database" {
  description = "Database Sawmill creates and migrates (SAWMILL_CLICKHOUSE_DATABASE)."
  type        = string
  default     = "sawmill"
}

variable "clickhouse_cluster" {
  description = "ClickHouse cluster (remote_servers) Sawmill runs ON CLUSTER migrations on (SAWMILL_CLICKHOUSE_CLUSTER), for an external replicated cluster. Empty: single-node mode. With clickhouse_mode = operator and more than one node, clickhouse_cluster_name is used."
  type        = string
  default     = ""
}

variable "clickhouse_existing_secret" {
  description = "Existing Secret with keys username and password of the ClickHouse user Sawmill connects as. Empty: the module creates one from clickhouse_username and clickhouse_password."
  type        = string
  default     = ""
}

variable "clickhouse_username" {
  description = "ClickHouse user of Sawmill (Secret created by the module; with clickhouse_mode = operator also the user the installation defines, so it must match the username key of an existing Secret)."
  type        = string
  default     = "sawmill"
}

variable "clickhouse_password" {
  description = "Password of clickhouse_username (Secret created by the module)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "clickhouse_installation_name" {
  description = "Name of the ClickHouseInstallation (operator mode); the operator's Service is clickhouse-<name>."
  type        = string
  default     = "sawmill"
}

variable "clickhouse_cluster_name" {
  description = "Cluster name inside the ClickHouseInstallation (operator mode)."
  type        = string
  default     = "sawmill"
}

variable "clickhouse_shards" {
  description = "Shards of the operator-managed cluster."
  type        = number
  default     = 1
}

variable "clickhouse_replicas" {
  description = "Replicas per shard of the operator-managed cluster; more than 1 needs clickhouse_zookeeper_nodes."
  type        = number
  default     = 1
}

variable "clickhouse_zookeeper_nodes" {
  description = "ZooKeeper or ClickHouse Keeper nodes of the operator-managed cluster (needed for replicated tables)."
  type = list(object({
    host = string
    port = optional(number, 2181)
  }))
  default = []
}

variable "clickhouse_image" {
  description = "ClickHouse server image of the operator-managed cluster."
  type        = string
  default     = "clickhouse/clickhouse-server:24.8"
}

variable "clickhouse_storage_size" {
  description = "Data volume per ClickHouse pod (operator mode)."
  type        = string
  default     = "100Gi"
}

variable "clickhouse_storage_class" {
  description = "Storage class of the ClickHouse data volumes (operator mode); empty: the cluster default."
  type        = string
  default     = ""
}

variable "clickhouse_resources" {
  description = "CPU and memory requests and limits of each ClickHouse pod (operator mode)."
  type = object({
    requests_cpu    = string
    requests_memory = string
    limits_cpu      = string
    limits_memory   = string
  })
  default = {
    requests_cpu    = "2"
    requests_memory = "8Gi"
    limits_cpu      = "4"
    limits_memory   = "16Gi"
  }
}

# ---------------------------------------------------------------- exposure

variable "ingress_enabled" {
  description = "Create the Ingresses for HTTP (REST, OTLP/HTTP, SSE tail) and gRPC."
  type        = bool
  default     = true
}

variable "ingress_host" {
  description = "Host name of the HTTP Ingress, e.g. logs.example.com."
  type        = string
  default     = ""
}

variable "ingress_grpc_host" {
  description = "Host name of the gRPC Ingress (Sawmill services and OTLP/gRPC); empty: ingress_host."
  type        = string
  default     = ""
}

variable "ingress_class_name" {
  description = "IngressClass; the gRPC Ingress uses the ingress-nginx backend-protocol annotation."
  type        = string
  default     = "nginx"
}

variable "ingress_tls_secret" {
  description = "Existing TLS Secret (tls.crt, tls.key) for the Ingress hosts; empty: no TLS on the Ingress (gRPC through ingress-nginx then needs its HTTP/2 cleartext support)."
  type        = string
  default     = ""
}

variable "ingress_annotations" {
  description = "Annotations added to both Ingresses (e.g. cert-manager.io/cluster-issuer)."
  type        = map(string)
  default     = {}
}

variable "syslog_service_type" {
  description = "Type of the syslog Service (TCP and UDP 5514, TLS 6514): LoadBalancer to reach it from outside the cluster, ClusterIP or NodePort otherwise. An Ingress cannot carry syslog."
  type        = string
  default     = "LoadBalancer"

  validation {
    condition     = contains(["LoadBalancer", "ClusterIP", "NodePort"], var.syslog_service_type)
    error_message = "syslog_service_type must be LoadBalancer, ClusterIP or NodePort."
  }
}

variable "syslog_service_annotations" {
  description = "Annotations of the syslog Service (cloud load balancer settings)."
  type        = map(string)
  default     = {}
}

variable "syslog_tls_secret" {
  description = "Existing TLS Secret (tls.crt, tls.key) for syslog over TLS on 6514; empty: no syslog TLS listener."
  type        = string
  default     = ""
}
