// A TLS server that reloads its certificate with controller-runtime's certwatcher, the
// best-known Go peer for "reload a mounted certificate without a restart". The benchmark
// harness drives it exactly as it drives serving-cert: the same kubelet-style writer, the same
// handshake probe. Usage: certwatcher-server CERT_DIR; prints the listening address on stdout.
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: certwatcher-server CERT_DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	watcher, err := certwatcher.New(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "certwatcher:", err)
		os.Exit(1)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() {
		if err := watcher.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "certwatcher stopped:", err)
		}
	}()
	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: watcher.GetCertificate})
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	fmt.Println(listener.Addr().String())
	go func() {
		<-ctx.Done()
		listener.Close()
	}()
	for {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			if tlsConn, ok := c.(*tls.Conn); ok {
				_ = tlsConn.Handshake()
			}
		}(conn)
	}
}
