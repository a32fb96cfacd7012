package main

import (
	"strconv"

	"github.com/gracekit/gracekit/http3"
	"github.com/prometheus/client_golang/prometheus"
)

// statsCollector exports an http3.Server's counters, labelled with the
// generation that counted them.
type statsCollector struct{ s *http3.Server }

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("gracekit_http3_"+name, help, []string{"generation"}, nil)
}

var (
	descConns     = desc("connections_total", "QUIC connections accepted by this generation.")
	descFull      = desc("full_handshakes_total", "Connections whose TLS handshake was a full one.")
	descResumed   = desc("resumed_handshakes_total", "Connections that resumed an earlier TLS session (of this or an older generation).")
	desc0RTT      = desc("zero_rtt_total", "Connections that used 0-RTT.")
	descDrained   = desc("connections_drained_total", "Connections closed during a drain with every request answered.")
	descLost      = desc("connections_lost_total", "Connections the drain's timeout closed with requests in progress.")
	descReqLost   = desc("requests_lost_total", "Requests in progress on connections the drain's timeout closed.")
	descForwarded = desc("packets_forwarded_total", "Packets routed to an older generation still draining.")
	descPassedUp  = desc("packets_passed_up_total", "Packets passed to the newest generation.")
	descFromNewer = desc("packets_from_newer_total", "Packets a newer generation forwarded to this one.")
	descDropped   = desc("packets_dropped_total", "Packets dropped because a generation's queue was full.")
)

func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descFull, descResumed, desc0RTT, descDrained, descLost, descReqLost, descForwarded, descPassedUp, descFromNewer, descDropped} {
		ch <- d
	}
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	g := strconv.Itoa(st.Generation)
	for d, v := range map[*prometheus.Desc]uint64{
		descConns: st.Connections, descFull: st.FullHandshakes, descResumed: st.Resumed, desc0RTT: st.Used0RTT,
		descDrained: st.ConnectionsDrained, descLost: st.ConnectionsLost, descReqLost: st.RequestsLost,
		descForwarded: st.PacketsForwarded, descPassedUp: st.PacketsPassedUp, descFromNewer: st.PacketsForwardedIn, descDropped: st.PacketsDropped,
	} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), g)
	}
}
