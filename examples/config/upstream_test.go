package main

import (
	"net/http/httptest"
	"testing"
)

// TestUpstreamHandler checks that GET /upstream names the upstream and
// says whether a token is set, never the token.
func TestUpstreamHandler(t *testing.T) {
	app := DefaultAppConfig().App
	app.APIToken, app.Upstream.URL = "tok-secret", "https://api.example.com"
	rec := httptest.NewRecorder()
	handler(app).ServeHTTP(rec, httptest.NewRequest("GET", "/upstream", nil))
	if rec.Body.String() != "upstream \"https://api.example.com\", token set: true\n" {
		t.Errorf("GET /upstream: %q", rec.Body.String())
	}
}
