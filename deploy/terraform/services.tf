locals {
  # REST paths (Prefix match, path-element-wise) and the role that serves
  # them: in a role's process the gateway knows only that role's services.
  http_routes = {
    "/v1/ingest"     = "ingest"
    "/v1/logs"       = "ingest" # OTLP/HTTP
    "/v1/es"         = "ingest" # Elasticsearch _bulk
    "/v1/scrubbing"  = "ingest"
    "/v1/search"     = "query" # also /v1/search/context
    "/v1/aggregate"  = "query"
    "/v1/correlate"  = "query"
    "/v1/tail"       = "query" # Server-Sent Events
    "/v1/searches"   = "query"
    "/v1/dashboards" = "query"
    "/v1/signup"     = "billing"
    "/v1/login"      = "billing"
    "/v1/keys"       = "billing"
    "/v1/account"    = "billing"
    "/v1/plans"      = "billing"
    "/v1/plan"       = "billing"
    "/v1/usage"      = "billing"
    "/v1/invoices"   = "billing"
    "/v1/spend-cap"  = "billing"
    "/v1/operator"   = "billing"
    "/v1/alerts"     = "alerts"
  }

  # gRPC services (the path is /<package>.<Service>/<Method>) and their role.
  grpc_routes = {
    "/sawmill.v1.IngestService"                          = "ingest"
    "/opentelemetry.proto.collector.logs.v1.LogsService" = "ingest"
    "/sawmill.v1.QueryService"                           = "query"
    "/sawmill.v1.SavedSearchService"                     = "query"
    "/sawmill.v1.DashboardService"                       = "query"
    "/sawmill.v1.AccountService"                         = "billing"
    "/sawmill.v1.BillingService"                         = "billing"
    "/sawmill.v1.OperatorService"                        = "billing"
    "/sawmill.v1.AlertService"                           = "alerts"
  }

  grpc_host = var.ingress_grpc_host != "" ? var.ingress_grpc_host : var.ingress_host

  nginx = var.ingress_class_name == "nginx"
}

# HTTP and gRPC of one role, inside the cluster and behind the Ingresses.
resource "kubernetes_service_v1" "role" {
  for_each = local.roles

  metadata {
    name      = "${var.name}-${each.key}"
    namespace = local.namespace
    labels    = local.selector[each.key]
  }

  spec {
    type     = "ClusterIP"
    selector = local.selector[each.key]

    port {
      name        = "http"
      port        = local.ports.http
      target_port = "http"
      protocol    = "TCP"
    }
    port {
      name         = "grpc"
      port         = local.ports.grpc
      target_port  = "grpc"
      protocol     = "TCP"
      app_protocol = "kubernetes.io/h2c"
    }
  }
}

# Syslog reaches the ingest pods over TCP and UDP (and TLS): layer 4, so a
# Service (LoadBalancer by default) rather than an Ingress.
resource "kubernetes_service_v1" "syslog" {
  metadata {
    name        = "${var.name}-syslog"
    namespace   = local.namespace
    labels      = local.selector["ingest"]
    annotations = var.syslog_service_annotations
  }

  spec {
    type     = var.syslog_service_type
    selector = local.selector["ingest"]

    port {
      name        = "syslog-tcp"
      port        = local.ports.syslog
      target_port = "syslog-tcp"
      protocol    = "TCP"
    }
    port {
      name        = "syslog-udp"
      port        = local.ports.syslog
      target_port = "syslog-udp"
      protocol    = "UDP"
    }
    dynamic "port" {
      for_each = var.syslog_tls_secret != "" ? ["syslog-tls"] : []
      content {
        name        = port.value
        port        = local.ports.syslog_tls
        target_port = port.value
        protocol    = "TCP"
      }
    }
  }
}

resource "kubernetes_ingress_v1" "http" {
  count = var.ingress_enabled ? 1 : 0

  metadata {
    name      = "${var.name}-http"
    namespace = local.namespace
    labels    = local.common_labels
    annotations = merge(
      { for k, v in {
        # -ingest.max-request-bytes is 10 MiB.
        "nginx.ingress.kubernetes.io/proxy-body-size" = "10m"
        # Live tail (SSE) streams for as long as the client stays.
        "nginx.ingress.kubernetes.io/proxy-read-timeout" = "3600"
        "nginx.ingress.kubernetes.io/proxy-buffering"    = "off"
      } : k => v if local.nginx },
      var.ingress_annotations,
    )
  }

  spec {
    ingress_class_name = var.ingress_class_name

    dynamic "tls" {
      for_each = var.ingress_tls_secret != "" ? [var.ingress_tls_secret] : []
      content {
        hosts       = [var.ingress_host]
        secret_name = tls.value
      }
    }

    rule {
      host = var.ingress_host
      http {
        dynamic "path" {
          for_each = local.http_routes
          content {
            path      = path.key
            path_type = "Prefix"
            backend {
              service {
                name = kubernetes_service_v1.role[path.value].metadata[0].name
                port {
                  name = "http"
                }
              }
            }
          }
        }
      }
    }
  }
}

resource "kubernetes_ingress_v1" "grpc" {
  count = var.ingress_enabled ? 1 : 0

  metadata {
    name      = "${var.name}-grpc"
    namespace = local.namespace
    labels    = local.common_labels
    annotations = merge(
      {
        "nginx.ingress.kubernetes.io/backend-protocol" = "GRPC"
        # gRPC message limit of ingress-nginx, in line with the HTTP body limit.
        "nginx.ingress.kubernetes.io/proxy-body-size" = "10m"
      },
      var.ingress_annotations,
    )
  }

  spec {
    ingress_class_name = var.ingress_class_name

    dynamic "tls" {
      for_each = var.ingress_tls_secret != "" ? [var.ingress_tls_secret] : []
      content {
        hosts       = [local.grpc_host]
        secret_name = tls.value
      }
    }

    rule {
      host = local.grpc_host
      http {
        dynamic "path" {
          for_each = local.grpc_routes
          content {
            path      = path.key
            path_type = "Prefix"
            backend {
              service {
                name = kubernetes_service_v1.role[path.value].metadata[0].name
                port {
                  name = "grpc"
                }
              }
            }
          }
        }
      }
    }
  }
}
