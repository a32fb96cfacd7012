package extclient

import "testing"

func TestParseWrk(t *testing.T) {
	out := `Running 3s test @ http://127.0.0.1:1/
  1 threads and 32 connections
  183704 requests in 3.00s, 22.27MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 4
Requests/sec:  61234.56
Transfer/sec:      7.42MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.RPS != 61234.56 || r.Errors != 7 || r.Non2xx != 4 || r.Read != 2 || r.Requests != 183704 {
		t.Fatalf("got %+v", r)
	}
	if _, err := parseWrk("garbage"); err == nil {
		t.Fatal("no error for garbage")
	}
}
