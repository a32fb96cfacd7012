// Command tableflip is the bench subject built on
// github.com/cloudflare/tableflip the way its README and its net/http
// example show: an Upgrader with a PID file, Upgrade on SIGHUP, Listen
// before Ready, and after Exit a deadline plus http.Server.Shutdown.
//
// The documented example handles no SIGTERM (the default action kills the
// process); this subject maps SIGTERM and SIGINT to Upgrader.Stop, which
// closes Exit and so runs the same documented shutdown path. With
// -servers N it listens on N ports from -addr on, all served by one
// http.Server, to measure what a restart costs per socket.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/cloudflare/tableflip"

	"github.com/gracekit/gracekit/bench/internal/handler"
	"github.com/gracekit/gracekit/bench/internal/subjectcfg"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	pidFile := flag.String("pidfile", "", "PID file, written by the serving process when it is ready")
	config := flag.String("config", "", "YAML config file; an invalid one stops the process during its start")
	tlsCert := flag.String("tls-cert", "", "serve HTTPS (HTTP/2 and HTTP/1.1 through ALPN) with this PEM certificate; needs -tls-key")
	tlsKey := flag.String("tls-key", "", "PEM key of -tls-cert")
	servers := flag.Int("servers", 1, "listen on this many ports, from -addr on, each served by the same http.Server")
	upgradeTimeout := flag.Duration("upgrade-timeout", tableflip.DefaultUpgradeTimeout, "how long a new process may take to become ready")
	flag.Parse()
	log.SetPrefix("tableflip-subject " + strconv.Itoa(os.Getpid()) + " ")

	if err := subjectcfg.Check(*config); err != nil {
		log.Fatalf("refusing to start: %v", err)
	}
	addrs, err := subjectcfg.Addrs(*addr, *servers)
	if err != nil {
		log.Fatalf("refusing to start: %v", err)
	}

	upg, err := tableflip.New(tableflip.Options{PIDFile: *pidFile, UpgradeTimeout: *upgradeTimeout})
	if err != nil {
		log.Fatalf("tableflip: %v", err)
	}
	defer upg.Stop()

	subjectcfg.HandleSignals(upg.Upgrade, upg.Stop)

	srv := &http.Server{Handler: handler.New(handler.Options{}), ReadHeaderTimeout: 10 * time.Second}
	for _, a := range addrs {
		ln, err := upg.Listen("tcp", a)
		if err != nil {
			log.Fatalf("listen: %v", err)
		}
		go func() {
			var err error
			if *tlsCert != "" {
				// ServeTLS with TLSNextProto unset: net/http offers h2 itself.
				err = srv.ServeTLS(ln, *tlsCert, *tlsKey)
			} else {
				err = srv.Serve(ln)
			}
			if err != http.ErrServerClosed {
				log.Printf("serve: %v", err)
			}
		}()
	}

	if err := upg.Ready(); err != nil {
		log.Fatalf("ready: %v", err)
	}
	<-upg.Exit()

	time.AfterFunc(30*time.Second, func() {
		log.Print("shutdown timed out")
		os.Exit(1)
	})
	_ = srv.Shutdown(context.Background())
}
