package report

import "fmt"

// h2 writes the HTTP/2 lane's table.
func (p *printer) h2(r *Results) {
	if len(r.H2) == 0 {
		return
	}
	p.f("## 6. HTTP/2 over TLS with clients nobody here wrote\n\n")
	p.f("%s\n\n", r.H2Desc)
	p.header("subject", "restarts", "run", "h2load runs", "h2load requests", "h2load succeeded", "h2load failed", "of which errored", "\"Process Request Failure\" lines", "timeout", "non-2xx", "protocol", "curl requests", "curl failed", "curl failures", "handover p50", "handover max")
	for _, x := range r.H2 {
		run := dur(x.Duration)
		if !x.Restart {
			run += ", no restarts (control)"
		}
		h := x.H2
		non2xx := h.Status3xx + h.Status4xx + h.Status5xx
		p.row(x.Subject, fmt.Sprint(x.Restarts.Restarts), run, fmt.Sprint(h.Runs), fmt.Sprint(h.Total), fmt.Sprint(h.Succeeded), fmt.Sprint(h.Failed), fmt.Sprint(h.Errored),
			fmt.Sprint(h.NotSubmitted), fmt.Sprint(h.Timeout), fmt.Sprint(non2xx), h.Protocol,
			fmt.Sprint(x.Curl.Requests), fmt.Sprint(x.Curl.Failed), x.Curl.Classes(),
			dur(Quantile(x.Restarts.Handover, 0.5)), dur(Quantile(x.Restarts.Handover, 1)))
	}
	p.f("\nh2load's \"failed\" counts every request that did not end in a 2xx; \"errored\" ones are those whose stream or connection failed. h2load prints a \"Process Request Failure\" line when it cannot submit a request on a connection (nghttp2 refuses new streams once a GOAWAY has arrived); in these runs it printed at most one such line per connection and h2load run. After a GOAWAY h2load, in timing-based mode, gives the connection up and opens a new one, and the requests it still had in flight on the old one count as failed in its summary: h2load has no way to send them again, and does not wait for the server's answers. The control rows show that none fail without restarts. curl's columns have no such accounting: every curl request is alone on its own connection, and a failure is a curl error or a non-2xx. The graceful server drains HTTP/2 in two steps (a GOAWAY notice that refuses no stream, then after IdleDrainGrace the final one), so its old generation lives about a second longer than tableflip's and fewer restarts fit in the same time (rollback is off in the bench: see Subjects). Handover here is from the signal to the first 200 from the new PID seen by the bench's own probe.\n\n")
	for _, x := range r.H2 {
		if x.H2Err != "" {
			p.f("- %s: h2load: `%s`\n", x.Subject, x.H2Err)
		}
		for _, s := range x.Curl.Samples {
			p.f("- %s: curl %s\n", x.Subject, "`"+s+"`")
		}
		for _, n := range x.Restarts.Notes {
			p.f("- %s: %s\n", x.Subject, n)
		}
	}
	p.f("\n")
}

// nginx writes the nginx-in-front lane's table.
func (p *printer) nginx(r *Results) {
	if len(r.Nginx) == 0 {
		return
	}
	p.f("## 7. Behind nginx\n\n")
	p.f("%s\n\n", r.NginxDesc)
	p.header("subject", "restarts", "run", "requests", "req/s", "non-2xx", "socket errors (connect/read/write/timeout)", "upstream errors in nginx's log", "handover p50", "handover max")
	for _, x := range r.Nginx {
		w := x.Wrk
		p.row(x.Subject, fmt.Sprint(x.Restarts.Restarts), dur(x.Duration), fmt.Sprint(w.Requests), fmt.Sprintf("%.0f", w.RPS), fmt.Sprint(w.Non2xx),
			fmt.Sprintf("%d (%d/%d/%d/%d)", w.SocketErrors(), w.Connect, w.Read, w.Write, w.Timeout), fmt.Sprint(x.UpstreamErrors),
			dur(Quantile(x.Restarts.Handover, 0.5)), dur(Quantile(x.Restarts.Handover, 1)))
	}
	p.f("\n")
	for _, x := range r.Nginx {
		if x.Err != "" {
			p.f("- %s: `%s`\n", x.Subject, x.Err)
		}
		for _, s := range x.UpstreamSamples {
			p.f("- %s: nginx: `%s`\n", x.Subject, s)
		}
		for _, n := range x.Restarts.Notes {
			p.f("- %s: %s\n", x.Subject, n)
		}
	}
	p.f("\n")
}
