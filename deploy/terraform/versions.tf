# Sawmill on Kubernetes: one Deployment per role, Services, Ingresses, HPAs,
# configuration and secrets, a NATS JetStream cluster (Helm) and ClickHouse
# (external, or a ClickHouseInstallation for the Altinity operator).
# docs/operations.md, "Deploying on Kubernetes", explains every input.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.31.0, < 3.0.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.12.0, < 3.0.0"
    }
  }
}
