// Package esbulk decodes the body of an Elasticsearch _bulk request (NDJSON
// action/source pairs, as Fluent Bit, Vector, Filebeat, Logstash and the ES
// client libraries send it) into Sawmill events, one item per action. Each
// source document is mapped with the native JSON field mapping
// (services/ingest/native), so @timestamp, message/log, log.level,
// host.name, service.name and friends land where they belong.
//
// Only the index and create actions store anything; update and delete are
// rejected item by item, because stored logs are immutable. A bad action or
// document rejects only its own item.
//
// It must not authenticate, publish or log: it is a pure function of the
// body, used by the HTTP layer in services/ingest, which serves it at
// POST /v1/es/_bulk and POST /v1/es/{index}/_bulk (and the probes shippers
// make at startup). Shipper settings, with the API key as the password:
//
//	# Fluent Bit
//	[OUTPUT]
//	    Name               es
//	    Host               logs.example.com
//	    Port               443
//	    tls                On
//	    Path               /v1/es
//	    HTTP_User          sawmill
//	    HTTP_Passwd        sm_xxx_yyy
//	    Suppress_Type_Name On
//
//	# Vector
//	[sinks.sawmill]
//	type      = "elasticsearch"
//	inputs    = ["app"]
//	endpoints = ["https://logs.example.com/v1/es"]
//	auth.strategy = "basic"
//	auth.user     = "sawmill"
//	auth.password = "sm_xxx_yyy"
//
//	# Filebeat
//	output.elasticsearch:
//	  hosts: ["https://logs.example.com:443"]
//	  path: /v1/es
//	  username: sawmill
//	  password: sm_xxx_yyy
//	  allow_older_versions: true   # Beats newer than the claimed ES version
//	setup.ilm.enabled: false
//	setup.template.enabled: false
//
// The index name is reported back to the client but not stored.
package esbulk
