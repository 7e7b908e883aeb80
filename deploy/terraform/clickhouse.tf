# ClickHouse managed by the Altinity clickhouse-operator. The operator and its
# CRDs must be installed before this module is planned (kubernetes_manifest
# reads the CRD schema at plan time). The operator creates the Service
# clickhouse-<installation> on the native port 9000, which Sawmill uses.
resource "kubernetes_manifest" "clickhouse" {
  count = var.clickhouse_mode == "operator" ? 1 : 0

  manifest = {
    apiVersion = "clickhouse.altinity.com/v1"
    kind       = "ClickHouseInstallation"
    metadata = {
      name      = var.clickhouse_installation_name
      namespace = local.namespace
      labels    = local.common_labels
    }
    spec = {
      configuration = merge(
        {
          # Sawmill's user: password from the same Secret the pods read,
          # reachable from the pod network only.
          users = {
            "${var.clickhouse_username}/k8s_secret_password" = "${local.namespace}/${local.clickhouse_secret}/password"
            "${var.clickhouse_username}/networks/ip"         = ["0.0.0.0/0", "::/0"]
            "${var.clickhouse_username}/profile"             = "default"
            "${var.clickhouse_username}/quota"               = "default"
          }
          clusters = [{
            name = var.clickhouse_cluster_name
            layout = {
              shardsCount   = var.clickhouse_shards
              replicasCount = var.clickhouse_replicas
            }
          }]
        },
        { for k, v in {
          zookeeper = { nodes = [for n in var.clickhouse_zookeeper_nodes : { host = n.host, port = n.port }] }
        } : k => v if length(var.clickhouse_zookeeper_nodes) > 0 },
      )
      defaults = {
        templates = {
          podTemplate             = "clickhouse"
          dataVolumeClaimTemplate = "data"
        }
      }
      templates = {
        podTemplates = [{
          name = "clickhouse"
          spec = {
            containers = [{
              name  = "clickhouse"
              image = var.clickhouse_image
              resources = {
                requests = { cpu = var.clickhouse_resources.requests_cpu, memory = var.clickhouse_resources.requests_memory }
                limits   = { cpu = var.clickhouse_resources.limits_cpu, memory = var.clickhouse_resources.limits_memory }
              }
            }]
          }
        }]
        volumeClaimTemplates = [{
          name = "data"
          spec = merge(
            {
              accessModes = ["ReadWriteOnce"]
              resources   = { requests = { storage = var.clickhouse_storage_size } }
            },
            { for k, v in { storageClassName = var.clickhouse_storage_class } : k => v if v != "" },
          )
        }]
      }
    }
  }

  wait {
    fields = {
      "status.status" = "Completed"
    }
  }

  timeouts {
    create = "30m"
    update = "30m"
  }
}
