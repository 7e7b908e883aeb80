# One Deployment per role; the container's argument is the role. Every role
# can run several pods at once (shared rate limits and quotas, one durable
# writer consumer, rule leases, one invoice per period).
resource "kubernetes_deployment_v1" "role" {
  for_each = local.roles

  metadata {
    name      = "${var.name}-${each.key}"
    namespace = local.namespace
    labels    = local.selector[each.key]
  }

  # Dependencies first, so that the first pods do not crash-loop while NATS
  # and ClickHouse come up (a role exits when it cannot reach them at start).
  depends_on = [helm_release.nats, kubernetes_manifest.clickhouse]

  wait_for_rollout = true

  spec {
    replicas = contains(keys(local.autoscaled), each.key) ? null : var.replicas[each.key]

    selector {
      match_labels = local.selector[each.key]
    }

    strategy {
      type = "RollingUpdate"
      rolling_update {
        max_surge       = "25%"
        max_unavailable = "0"
      }
    }

    template {
      metadata {
        labels = local.selector[each.key]
        annotations = merge(
          {
            "prometheus.io/scrape" = "true"
            "prometheus.io/port"   = tostring(local.ports.http)
            "prometheus.io/path"   = "/metrics"
            # Roll the pods when the configuration changes.
            "checksum/config" = sha256(jsonencode(local.config))
          },
          var.pod_annotations,
        )
      }

      spec {
        automount_service_account_token = false
        node_selector                   = var.node_selector
        # -shutdown-timeout (10 s) for requests, then the writer's last flush.
        termination_grace_period_seconds = 60

        dynamic "image_pull_secrets" {
          for_each = var.image_pull_secrets
          content {
            name = image_pull_secrets.value
          }
        }

        security_context {
          run_as_non_root = true
          run_as_user     = 65532
          run_as_group    = 65532
          fs_group        = 65532
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        topology_spread_constraint {
          max_skew           = 1
          topology_key       = "kubernetes.io/hostname"
          when_unsatisfiable = "ScheduleAnyway"
          label_selector {
            match_labels = local.selector[each.key]
          }
        }

        container {
          name              = "sawmill"
          image             = var.image
          image_pull_policy = var.image_pull_policy
          # The role, then one server flag: "sawmill ingest" followed by a
          # flag with a dot is always the ingest role, never the client's
          # "sawmill ingest FILE" (cmd/sawmill isClientCommand).
          args = [each.key, "-log.level=${var.log_level}"]

          port {
            name           = "http"
            container_port = local.ports.http
            protocol       = "TCP"
          }
          port {
            name           = "grpc"
            container_port = local.ports.grpc
            protocol       = "TCP"
          }
          dynamic "port" {
            for_each = { for k, v in {
              "syslog-tcp" = { port = local.ports.syslog, protocol = "TCP" }
              "syslog-udp" = { port = local.ports.syslog, protocol = "UDP" }
            } : k => v if each.key == "ingest" }
            content {
              name           = port.key
              container_port = port.value.port
              protocol       = port.value.protocol
            }
          }
          dynamic "port" {
            for_each = each.key == "ingest" && var.syslog_tls_secret != "" ? ["syslog-tls"] : []
            content {
              name           = port.value
              container_port = local.ports.syslog_tls
              protocol       = "TCP"
            }
          }

          env_from {
            config_map_ref {
              name = kubernetes_config_map_v1.sawmill.metadata[0].name
            }
          }

          env {
            name = "SAWMILL_AUTH_JWT_KEY"
            value_from {
              secret_key_ref {
                name = local.jwt_secret
                key  = "jwt-key"
              }
            }
          }
          dynamic "env" {
            for_each = each.key == "billing" ? ["SAWMILL_AUTH_OPERATOR_KEY"] : []
            content {
              name = env.value
              value_from {
                secret_key_ref {
                  name     = local.jwt_secret
                  key      = "operator-key"
                  optional = true
                }
              }
            }
          }
          env {
            name = "SAWMILL_CLICKHOUSE_USERNAME"
            value_from {
              secret_key_ref {
                name = local.clickhouse_secret
                key  = "username"
              }
            }
          }
          env {
            name = "SAWMILL_CLICKHOUSE_PASSWORD"
            value_from {
              secret_key_ref {
                name = local.clickhouse_secret
                key  = "password"
              }
            }
          }
          # Installed NATS: the URL is composed from the Secret's username and
          # password by Kubernetes' $(VAR) expansion (they must be defined
          # before it). External NATS: the whole URL list is in the Secret.
          dynamic "env" {
            for_each = { for k, v in { NATS_USERNAME = "username", NATS_PASSWORD = "password" } : k => v if var.nats_install }
            content {
              name = env.key
              value_from {
                secret_key_ref {
                  name = local.nats_secret
                  key  = env.value
                }
              }
            }
          }
          dynamic "env" {
            for_each = var.nats_install ? ["nats://$(NATS_USERNAME):$(NATS_PASSWORD)@${local.nats_host}:4222"] : []
            content {
              name  = "SAWMILL_NATS_URL"
              value = env.value
            }
          }
          dynamic "env" {
            for_each = var.nats_install ? [] : ["url"]
            content {
              name = "SAWMILL_NATS_URL"
              value_from {
                secret_key_ref {
                  name = local.nats_secret
                  key  = env.value
                }
              }
            }
          }

          resources {
            requests = {
              cpu    = var.resources[each.key].requests_cpu
              memory = var.resources[each.key].requests_memory
            }
            limits = {
              cpu    = var.resources[each.key].limits_cpu
              memory = var.resources[each.key].limits_memory
            }
          }

          # /healthz answers once the listeners are up, which is after NATS,
          # ClickHouse and the migrations: the startup probe allows 5 minutes.
          startup_probe {
            http_get {
              path = "/healthz"
              port = "http"
            }
            period_seconds    = 5
            failure_threshold = 60
          }
          liveness_probe {
            http_get {
              path = "/healthz"
              port = "http"
            }
            period_seconds    = 10
            timeout_seconds   = 5
            failure_threshold = 6
          }
          # /readyz: NATS answers, ClickHouse answers, migrations applied.
          readiness_probe {
            http_get {
              path = "/readyz"
              port = "http"
            }
            period_seconds    = 5
            timeout_seconds   = 5
            failure_threshold = 3
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            run_as_non_root            = true
            capabilities {
              drop = ["ALL"]
            }
          }

          volume_mount {
            name       = "data"
            mount_path = "/data"
          }
          volume_mount {
            name       = "tmp"
            mount_path = "/tmp"
          }
          dynamic "volume_mount" {
            for_each = each.key == "ingest" && var.syslog_tls_secret != "" ? ["syslog-tls"] : []
            content {
              name       = volume_mount.value
              mount_path = "/etc/sawmill/syslog-tls"
              read_only  = true
            }
          }
        }

        volume {
          name = "data"
          empty_dir {}
        }
        volume {
          name = "tmp"
          empty_dir {}
        }
        dynamic "volume" {
          for_each = each.key == "ingest" && var.syslog_tls_secret != "" ? [var.syslog_tls_secret] : []
          content {
            name = "syslog-tls"
            secret {
              secret_name = volume.value
            }
          }
        }
      }
    }
  }
}

# At most one pod of a role down for voluntary disruptions (node drains).
resource "kubernetes_pod_disruption_budget_v1" "role" {
  for_each = local.roles

  metadata {
    name      = "${var.name}-${each.key}"
    namespace = local.namespace
    labels    = local.selector[each.key]
  }

  spec {
    max_unavailable = "1"
    selector {
      match_labels = local.selector[each.key]
    }
  }
}

resource "kubernetes_horizontal_pod_autoscaler_v2" "role" {
  for_each = local.autoscaled

  metadata {
    name      = "${var.name}-${each.key}"
    namespace = local.namespace
    labels    = local.selector[each.key]
  }

  spec {
    min_replicas = each.value.min_replicas
    max_replicas = each.value.max_replicas

    scale_target_ref {
      api_version = "apps/v1"
      kind        = "Deployment"
      name        = kubernetes_deployment_v1.role[each.key].metadata[0].name
    }

    metric {
      type = "Resource"
      resource {
        name = "cpu"
        target {
          type                = "Utilization"
          average_utilization = each.value.cpu_target_percent
        }
      }
    }

    # Scale down slowly: an ingest pod also runs a writer, and a burst that
    # left a backlog is still being written after the CPU peak.
    behavior {
      scale_down {
        stabilization_window_seconds = 300
        select_policy                = "Max"
        policy {
          type           = "Pods"
          value          = 1
          period_seconds = 60
        }
      }
    }
  }
}
