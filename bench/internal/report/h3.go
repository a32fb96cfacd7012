package report

import (
	"fmt"

	"github.com/gracekit/gracekit/bench/internal/load"
)

// h3 writes the HTTP/3 lane's section.
func (p *printer) h3(r *Results) {
	if len(r.H3) == 0 {
		return
	}
	p.f("## 13. HTTP/3 under restarts\n\n")
	p.command(r)
	p.f("%s\n\n", r.H3Desc)
	for _, s := range r.H3Subjects {
		p.f("- %s\n", s)
	}
	p.f("\n")
	p.header("subject", "restarts", "run", "failed requests (all clients)", "curl requests", "curl failed", "gtlsclient requests", "gtlsclient failed", "held connection requests", "held connection failed", "restart p50", "restart max")
	for _, x := range r.H3 {
		if x.Err != "" {
			p.row(x.Subject, "-", "did not start", "-", "-", "-", "-", "-", "-", "-", "-", "-")
			continue
		}
		p.row(x.Subject, fmt.Sprint(x.Restarts.Restarts), dur(x.Duration), fmt.Sprint(x.Failed()),
			fmt.Sprint(x.Curl.Requests), h3Failures(x.Curl), fmt.Sprint(x.Gtls.Requests), h3Failures(x.Gtls),
			fmt.Sprint(x.Held.Requests), h3Failures(x.Held),
			dur(Quantile(x.Restarts.Handover, 0.5)), dur(Quantile(x.Restarts.Handover, 1)))
	}
	p.f("\nA failed request is one the client reports as failed (curl and gtlsclient: a non-zero exit or no 2xx body; the held client: an error or a non-2xx), by class in parentheses: curl's exit 7 is a connection that could not be set up, 28 a timeout, 55 and 56 a connection that failed while sending or receiving, 95 an HTTP/3 stream error. A restart is, for gracekit and quic-go + tableflip, from the signal to the first answer from the new PID seen by the bench's own probe (over HTTPS on TCP); for Caddy, the `caddy reload` command.\n\n")
	for _, x := range r.H3 {
		if x.Err != "" {
			p.f("- %s: `%s`\n", x.Subject, x.Err)
			continue
		}
		for _, c := range []struct {
			name string
			t    *load.H3Tally
		}{{"curl", x.Curl}, {"gtlsclient", x.Gtls}, {"held connection", x.Held}} {
			for _, s := range c.t.Samples {
				p.f("- %s, %s: `%s`\n", x.Subject, c.name, s)
			}
		}
		for _, n := range x.Restarts.Notes {
			p.f("- %s: %s\n", x.Subject, n)
		}
	}
	p.f("\n")
}

// h3Failures is a tally's failed count with its classes.
func h3Failures(t *load.H3Tally) string {
	if t.Failed == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", t.Failed, t.Classes())
}
