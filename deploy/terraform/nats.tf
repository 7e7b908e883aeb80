# A NATS JetStream cluster from the official chart (1.x values schema). The
# server's single user comes from the same Secret Sawmill reads, through the
# chart's << $VAR >> config variables, so the password never enters the
# Helm release values.
resource "helm_release" "nats" {
  count = var.nats_install ? 1 : 0

  name       = "${var.name}-nats"
  namespace  = local.namespace
  repository = "https://nats-io.github.io/k8s/helm/charts/"
  chart      = "nats"
  version    = var.nats_chart_version
  wait       = true
  timeout    = 900

  values = [yamlencode({
    fullnameOverride = "${var.name}-nats"
    config = {
      cluster = {
        enabled  = var.nats_cluster_size > 1
        replicas = var.nats_cluster_size
      }
      jetstream = {
        enabled = true
        fileStore = {
          pvc = merge(
            { size = var.nats_storage_size },
            { for k, v in { storageClassName = var.nats_storage_class } : k => v if v != "" },
          )
        }
      }
      merge = {
        authorization = {
          user     = "<< $NATS_USERNAME >>"
          password = "<< $NATS_PASSWORD >>"
        }
      }
    }
    container = {
      env = {
        NATS_USERNAME = { valueFrom = { secretKeyRef = { name = local.nats_secret, key = "username" } } }
        NATS_PASSWORD = { valueFrom = { secretKeyRef = { name = local.nats_secret, key = "password" } } }
      }
    }
    podTemplate = {
      topologySpreadConstraints = {
        "kubernetes.io/hostname" = {
          maxSkew           = 1
          whenUnsatisfiable = "ScheduleAnyway"
        }
      }
    }
  })]
}
