// Package terraform holds Sawmill's Terraform module for Kubernetes (the
// *.tf files beside this one: a Deployment, Service and PodDisruptionBudget
// per role, HPAs for ingest and query, Ingresses, configuration and
// secrets, a NATS JetStream cluster through Helm, and ClickHouse external or
// operator-managed) and its examples/.
//
// It has no Go code. Its test parses every .tf file with hashicorp/hcl and
// checks what terraform validate would, without providers (they cannot be
// downloaded here): every reference names a declared variable, local,
// resource, data source or module (and module output); every variable has a
// description and a valid type, its default fits that type, and it is used.
// Nothing may import this package.
package terraform
