package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI description of the API, served at
// /openapi.json. The gateway/server tests check every answer they get
// against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the API's OpenAPI description.
func OpenAPIDocument() []byte { return openAPIDocument }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}
