// Package gen holds the code generated from proto/ by `make proto`
// (mk/proto.mk, buf.gen.yaml): Go messages, gRPC stubs and grpc-gateway
// handlers in gen/sawmill/v1, and the merged OpenAPI document in
// gen/openapi/sawmill.swagger.json.
//
// Nothing under gen/ is edited by hand except the doc.go files and
// gen_test.go, whose test fails when the generated files are stale. Package
// gen itself provides no code and must not: importers want gen/sawmill/v1.
package gen
