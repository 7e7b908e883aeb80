// Package auth provides Sawmill's credentials: API keys (format, generation,
// hashing, scopes), the in-memory key table that edges follow from NATS KV,
// session JWTs, and the Authenticator that turns a bearer token into a
// Principal. It makes no network call on the request path: keys are checked
// against memory, sessions by signature. It must not import any service.
package auth
