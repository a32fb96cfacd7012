// Command h3naive is the bench's HTTP/3 subject restarted the naive way:
// quic-go's http3.Server on a UDP socket that github.com/cloudflare/tableflip
// hands to the next process, as it hands over the TCP listener, and no
// routing of packets between the processes. Both serve the same handler:
// HTTPS on TCP (which the bench's probes use) and HTTP/3 on UDP at -addr.
//
// On SIGHUP the Upgrader starts the next process; once it is ready, this
// one shuts its servers down as quic-go and net/http document it
// (http3.Server.Shutdown sends GOAWAY and waits for the connections;
// http.Server.Shutdown), within -shutdown-timeout, and exits. While it drains, both
// processes read the one UDP socket: each gets about half of the other's
// packets, which it does not know (quic-go drops them, or answers them
// with a stateless reset when a StatelessResetKey is set; none is set
// here, as in quic-go's examples).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/gracekit/gracekit/bench/internal/handler"
	"github.com/gracekit/gracekit/bench/internal/subjectcfg"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "listen address, TCP and UDP")
	pidFile := flag.String("pidfile", "", "PID file, written by the serving process when it is ready")
	config := flag.String("config", "", "YAML config file; an invalid one stops the process during its start")
	tlsCert := flag.String("tls-cert", "", "PEM certificate (required)")
	tlsKey := flag.String("tls-key", "", "PEM key of -tls-cert (required)")
	shutdownTimeout := flag.Duration("shutdown-timeout", 10*time.Second, "bound of the old process's shutdown after a restart")
	flag.Parse()
	log.SetPrefix("h3naive-subject " + strconv.Itoa(os.Getpid()) + " ")

	if err := subjectcfg.Check(*config); err != nil {
		log.Fatalf("refusing to start: %v", err)
	}
	cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
	if err != nil {
		log.Fatalf("refusing to start: -tls-cert and -tls-key: %v", err)
	}
	upg, err := tableflip.New(tableflip.Options{PIDFile: *pidFile})
	if err != nil {
		log.Fatalf("tableflip: %v", err)
	}
	defer upg.Stop()
	subjectcfg.HandleSignals(upg.Upgrade, upg.Stop)

	h := handler.New(handler.Options{})
	ln, err := upg.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen tcp: %v", err)
	}
	pc, err := upg.ListenPacket("udp", *addr)
	if err != nil {
		log.Fatalf("listen udp: %v", err)
	}
	tcp := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() {
		if err := tcp.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("serve tcp: %v", err)
		}
	}()
	tr := &quic.Transport{Conn: pc}
	qln, err := tr.ListenEarly(http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}), &quic.Config{Allow0RTT: true})
	if err != nil {
		log.Fatalf("listen quic: %v", err)
	}
	h3 := &http3.Server{Handler: h}
	go func() {
		if err := h3.ServeListener(qln); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
			log.Printf("serve http/3: %v", err)
		}
	}()

	if err := upg.Ready(); err != nil {
		log.Fatalf("ready: %v", err)
	}
	<-upg.Exit()

	ctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		_ = h3.Shutdown(ctx)
		close(done)
	}()
	_ = tcp.Shutdown(ctx)
	<-done
	_ = qln.Close()
	_ = tr.Close()
}
