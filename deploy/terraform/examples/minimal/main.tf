# The smallest Sawmill deployment: an in-cluster NATS JetStream cluster
# (3 nodes), an external ClickHouse, Secrets created from the variables
# below, and an nginx Ingress. Run:
#
#   terraform init
#   terraform apply -var image=registry.example.com/sawmill:1.0.0 \
#     -var host=logs.example.com -var clickhouse_addr=clickhouse.db:9000
#
# with TF_VAR_jwt_key, TF_VAR_nats_password and TF_VAR_clickhouse_password
# in the environment (docs/operations.md, "Deploying on Kubernetes").

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

variable "kubeconfig" {
  description = "Path of the kubeconfig file."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "kubeconfig context of the target cluster; empty: the current context."
  type        = string
  default     = ""
}

variable "image" {
  description = "Sawmill image built from the repository's Dockerfile."
  type        = string
}

variable "host" {
  description = "Public host name of the API (the Ingress host)."
  type        = string
}

variable "clickhouse_addr" {
  description = "ClickHouse native-protocol address host:port."
  type        = string
}

variable "jwt_key" {
  description = "Session signing key, at least 32 bytes (e.g. openssl rand -hex 32)."
  type        = string
  sensitive   = true
}

variable "nats_password" {
  description = "Password of the sawmill NATS user (URL-safe, e.g. openssl rand -hex 24)."
  type        = string
  sensitive   = true
}

variable "clickhouse_password" {
  description = "Password of the ClickHouse user sawmill."
  type        = string
  sensitive   = true
}

provider "kubernetes" {
  config_path    = var.kubeconfig
  config_context = var.kube_context != "" ? var.kube_context : null
}

provider "helm" {
  kubernetes {
    config_path    = var.kubeconfig
    config_context = var.kube_context != "" ? var.kube_context : null
  }
}

module "sawmill" {
  source = "../.."

  image               = var.image
  ingress_host        = var.host
  clickhouse_addr     = var.clickhouse_addr
  jwt_key             = var.jwt_key
  nats_password       = var.nats_password
  clickhouse_password = var.clickhouse_password
}

output "http_url" {
  description = "Base URL of the REST API."
  value       = module.sawmill.http_url
}

output "grpc_endpoint" {
  description = "gRPC and OTLP/gRPC endpoint."
  value       = module.sawmill.grpc_endpoint
}

output "syslog_service" {
  description = "Service whose load balancer receives syslog."
  value       = module.sawmill.syslog_service
}
