package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"qaas.dev/qaas/gateway/kafka"
)

// GET /openapi.json answers the embedded document, without credentials.
func TestOpenAPIDocumentIsServed(t *testing.T) {
	pool := kafka.NewPool(kafka.Options{}, kafka.Tuning{}, slog.New(slog.DiscardHandler))
	defer pool.Close()
	api, _ := NewHandlers(Deps{Pool: pool, Limits: Limits{MaxHeaderBytes: 64 << 10}, KafkaCheck: func() error { return nil }, Log: slog.New(slog.DiscardHandler)})

	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	onDisk, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(rec.Body); !bytes.Equal(body, onDisk) || !bytes.Equal(body, OpenAPIDocument()) {
		t.Error("GET /openapi.json does not answer openapi.json")
	}
}

// openapi.json is an OpenAPI 3.1 document libopenapi builds a model of
// without errors, and that passes the validator's check against the
// OpenAPI specification's schema.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, err := libopenapi.NewDocument(OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetSpecInfo().Version; v != "3.1.0" {
		t.Errorf("OpenAPI version %q, want 3.1.0", v)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("building the model: %v", err)
	}
	if model.Model.Paths == nil || model.Model.Paths.PathItems.Len() == 0 {
		t.Fatal("the document has no paths")
	}
	v, errs := validator.NewValidator(doc)
	for _, err := range errs {
		t.Errorf("building the validator: %v", err)
	}
	if v == nil {
		t.FailNow()
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s (line %d)", se.Reason, se.KeywordLocation, se.Line)
			}
		}
	}
}
