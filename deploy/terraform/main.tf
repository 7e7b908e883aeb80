locals {
  roles = toset(["ingest", "query", "billing", "alerts"])

  namespace = var.create_namespace ? kubernetes_namespace_v1.sawmill[0].metadata[0].name : var.namespace

  ports = {
    http       = 8080
    grpc       = 4317
    syslog     = 5514
    syslog_tls = 6514
  }

  common_labels = {
    "app.kubernetes.io/name"       = "sawmill"
    "app.kubernetes.io/instance"   = var.name
    "app.kubernetes.io/managed-by" = "terraform"
  }
  selector = { for r in local.roles : r => {
    "app.kubernetes.io/name"      = "sawmill"
    "app.kubernetes.io/instance"  = var.name
    "app.kubernetes.io/component" = r
  } }

  # Roles whose replica count an HPA owns: their Deployments leave
  # spec.replicas unset so that an apply does not fight the autoscaler.
  autoscaled = { for r, a in var.autoscaling : r => a if a.enabled }

  # Secrets: an existing one by name, or the one this module creates.
  jwt_secret        = var.jwt_existing_secret != "" ? var.jwt_existing_secret : kubernetes_secret_v1.jwt[0].metadata[0].name
  nats_secret       = var.nats_existing_secret != "" ? var.nats_existing_secret : kubernetes_secret_v1.nats[0].metadata[0].name
  clickhouse_secret = var.clickhouse_existing_secret != "" ? var.clickhouse_existing_secret : kubernetes_secret_v1.clickhouse[0].metadata[0].name

  nats_host = "${var.name}-nats.${var.namespace}.svc"

  clickhouse_nodes = var.clickhouse_shards * var.clickhouse_replicas
  clickhouse_addr  = var.clickhouse_mode == "operator" ? "clickhouse-${var.clickhouse_installation_name}.${var.namespace}.svc:9000" : var.clickhouse_addr
  clickhouse_cluster = (var.clickhouse_mode == "operator" && local.clickhouse_nodes > 1
  ? var.clickhouse_cluster_name : var.clickhouse_cluster)

  public_url = var.alerts_public_url != "" ? var.alerts_public_url : "https://${var.ingress_host}"

  # The container listens on every interface; everything else not secret is
  # here, one SAWMILL_* variable per flag (docs/operations.md).
  config = merge(
    {
      SAWMILL_HTTP_ADDR           = "0.0.0.0:${local.ports.http}"
      SAWMILL_GRPC_ADDR           = "0.0.0.0:${local.ports.grpc}"
      SAWMILL_SYSLOG_ADDR         = "0.0.0.0:${local.ports.syslog}"
      SAWMILL_SYSLOG_TLS_ADDR     = "0.0.0.0:${local.ports.syslog_tls}"
      SAWMILL_DATA_DIR            = "/data"
      SAWMILL_NATS_REPLICAS       = tostring(var.nats_stream_replicas)
      SAWMILL_CLICKHOUSE_ADDR     = local.clickhouse_addr
      SAWMILL_CLICKHOUSE_DATABASE = var.clickhouse_database
      SAWMILL_ALERTS_PUBLIC_URL   = local.public_url
    },
    { for k, v in { SAWMILL_CLICKHOUSE_CLUSTER = local.clickhouse_cluster } : k => v if v != "" },
    { for k, v in {
      SAWMILL_SYSLOG_TLS_CERT = "/etc/sawmill/syslog-tls/tls.crt"
      SAWMILL_SYSLOG_TLS_KEY  = "/etc/sawmill/syslog-tls/tls.key"
    } : k => v if var.syslog_tls_secret != "" },
    var.extra_env,
  )
}

resource "kubernetes_namespace_v1" "sawmill" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name   = var.namespace
    labels = local.common_labels
  }
}

resource "kubernetes_config_map_v1" "sawmill" {
  metadata {
    name      = "${var.name}-config"
    namespace = local.namespace
    labels    = local.common_labels
  }

  data = local.config

  lifecycle {
    precondition {
      condition     = var.clickhouse_mode != "external" || var.clickhouse_addr != ""
      error_message = "clickhouse_mode = external needs clickhouse_addr (host:port of the native protocol)."
    }
    precondition {
      condition     = var.clickhouse_mode != "operator" || var.clickhouse_replicas == 1 || length(var.clickhouse_zookeeper_nodes) > 0
      error_message = "clickhouse_replicas > 1 needs clickhouse_zookeeper_nodes (ZooKeeper or ClickHouse Keeper)."
    }
    precondition {
      condition     = !var.nats_install || var.nats_stream_replicas <= var.nats_cluster_size
      error_message = "nats_stream_replicas cannot exceed nats_cluster_size."
    }
    precondition {
      condition     = !var.ingress_enabled || var.ingress_host != ""
      error_message = "ingress_enabled needs ingress_host."
    }
  }
}

resource "kubernetes_secret_v1" "jwt" {
  count = var.jwt_existing_secret == "" ? 1 : 0

  metadata {
    name      = "${var.name}-jwt"
    namespace = local.namespace
    labels    = local.common_labels
  }

  # An empty operator-key leaves the operator API disabled.
  data = {
    "jwt-key"      = var.jwt_key
    "operator-key" = var.operator_key
  }

  lifecycle {
    precondition {
      condition     = length(var.jwt_key) >= 32
      error_message = "jwt_key must be at least 32 bytes (or name an existing Secret in jwt_existing_secret)."
    }
  }
}

resource "kubernetes_secret_v1" "nats" {
  count = var.nats_existing_secret == "" ? 1 : 0

  metadata {
    name      = "${var.name}-nats-credentials"
    namespace = local.namespace
    labels    = local.common_labels
  }

  # Installed NATS reads username and password; external NATS reads url.
  data = {
    username = var.nats_username
    password = var.nats_password
    url      = var.nats_url
  }

  lifecycle {
    precondition {
      condition     = var.nats_install ? var.nats_password != "" : var.nats_url != ""
      error_message = "Set nats_password (installed NATS) or nats_url (external NATS), or name an existing Secret in nats_existing_secret."
    }
  }
}

resource "kubernetes_secret_v1" "clickhouse" {
  count = var.clickhouse_existing_secret == "" ? 1 : 0

  metadata {
    name      = "${var.name}-clickhouse-credentials"
    namespace = local.namespace
    labels    = local.common_labels
  }

  data = {
    username = var.clickhouse_username
    password = var.clickhouse_password
  }
}
