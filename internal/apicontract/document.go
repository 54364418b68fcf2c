// Package apicontract checks the gateway's answers against its OpenAPI
// document (gateway/httpapi/openapi.json), for the tests that talk to a
// gateway: gateway/server's and the end-to-end suite. Only tests import it:
// the product binaries link no OpenAPI library.
package apicontract

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"qaas.dev/qaas/gateway/httpapi"
)

// Document is the validator of openapi.json, shared by every check in a
// test binary.
type Document struct {
	v validator.Validator
	// mu serializes validations: the validator is not documented as safe
	// for concurrent use.
	mu sync.Mutex

	// Checked and Unread count the answers checked and those closed
	// before they were read to the end (not checked), for the suites to
	// show.
	Checked, Unread atomic.Int64
}

var (
	loadOnce sync.Once
	loaded   *Document
	loadErr  error
)

// Load builds the validator of openapi.json once per test binary. A
// document that libopenapi cannot model or that is not valid OpenAPI is an
// error.
func Load() (*Document, error) {
	loadOnce.Do(func() { loaded, loadErr = build() })
	return loaded, loadErr
}

func build() (*Document, error) {
	doc, err := libopenapi.NewDocument(httpapi.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		return nil, fmt.Errorf("openapi.json: building the model: %w", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi.json: building the validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("openapi.json is not valid OpenAPI: %v", verrs)
	}
	return &Document{v: v}, nil
}
