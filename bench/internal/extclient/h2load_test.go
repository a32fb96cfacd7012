package extclient

import "testing"

func TestParseH2load(t *testing.T) {
	out := `Application protocol: h2
Process Request Failure:1
Process Request Failure:2
finished in 4.00s, 8471.50 req/s, 322.79KB/s
requests: 33902 total, 33902 started, 33902 done, 33886 succeeded, 16 failed, 16 errored, 0 timeout
status codes: 33886 2xx, 0 3xx, 0 4xx, 0 5xx
`
	r, err := parseH2load(out)
	if err != nil {
		t.Fatal(err)
	}
	want := H2Result{Total: 33902, Succeeded: 33886, Failed: 16, Errored: 16, Status2xx: 33886, NotSubmitted: 2, Protocol: "h2", RPS: 8471.5, Runs: 1}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	var sum H2Result
	sum.Add(r)
	sum.Add(r)
	if sum.Total != 2*33902 || sum.Runs != 2 || sum.Protocol != "h2" {
		t.Fatalf("sum %+v", sum)
	}
	if _, err := parseH2load("garbage"); err == nil {
		t.Fatal("no error for garbage")
	}
}
