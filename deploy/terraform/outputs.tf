output "namespace" {
  description = "Namespace Sawmill runs in."
  value       = local.namespace
}

output "services" {
  description = "ClusterIP Service of each role (HTTP 8080, gRPC 4317)."
  value       = { for r, s in kubernetes_service_v1.role : r => s.metadata[0].name }
}

output "http_url" {
  description = "Public base URL of the REST API (through the HTTP Ingress); empty without an Ingress."
  value       = var.ingress_enabled ? "${var.ingress_tls_secret != "" ? "https" : "http"}://${var.ingress_host}" : ""
}

output "grpc_endpoint" {
  description = "Public host:port of the gRPC API and OTLP/gRPC (through the gRPC Ingress); empty without an Ingress."
  value       = var.ingress_enabled ? "${local.grpc_host}:${var.ingress_tls_secret != "" ? 443 : 80}" : ""
}

output "syslog_service" {
  description = "Service receiving syslog (TCP and UDP 5514, TLS 6514 when configured); its load balancer address is the syslog endpoint."
  value       = kubernetes_service_v1.syslog.metadata[0].name
}

output "nats_host" {
  description = "NATS client address Sawmill uses when the module installs NATS (credentials in the NATS Secret); empty with an external NATS."
  value       = var.nats_install ? "${local.nats_host}:4222" : ""
}

output "clickhouse_addr" {
  description = "ClickHouse native-protocol address Sawmill uses."
  value       = local.clickhouse_addr
}

output "config_map" {
  description = "ConfigMap with the non-secret SAWMILL_* settings shared by every role."
  value       = kubernetes_config_map_v1.sawmill.metadata[0].name
}

output "secrets" {
  description = "Secrets the pods read: jwt (jwt-key, operator-key), nats (username/password or url), clickhouse (username, password)."
  value = {
    jwt        = local.jwt_secret
    nats       = local.nats_secret
    clickhouse = local.clickhouse_secret
  }
}
