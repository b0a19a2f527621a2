package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "lodestone test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With --tls-cert/--tls-key the API speaks wss:// only: a client trusting
// the certificate works, a plain ws:// handshake does not.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cfg := daemontest.Config(t, daemontest.NewDirs(t), false)
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon run: %v", err)
		}
	}()

	if !strings.HasPrefix(d.URL(), "wss://") {
		t.Fatalf("URL %s, want wss://", d.URL())
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c, err := client.DialOptions(ctxT(t, 5*time.Second), d.APIURL(), daemontest.Token, client.Options{HTTPClient: hc})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	if _, err := c.ListTasks(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	plain := "ws://" + d.APIAddr() + "/ws"
	if _, err := client.Dial(ctxT(t, 5*time.Second), plain, daemontest.Token); err == nil {
		t.Fatal("a plain ws:// handshake was accepted on the TLS port")
	}
	// An untrusting client is refused by TLS, not by the token.
	_, err = client.Dial(ctxT(t, 5*time.Second), d.APIURL(), daemontest.Token)
	var ue x509.UnknownAuthorityError
	if !errors.As(err, &ue) {
		t.Fatalf("dial without trusting the certificate: %v, want an unknown-authority error", err)
	}
}

func TestTLSConfigValidated(t *testing.T) {
	cfg := daemontest.Config(t, daemontest.NewDirs(t), false)
	cfg.TLSCert = "/nonexistent/cert.pem"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tls-key") {
		t.Fatalf("cert without key: %v", err)
	}
	cfg.TLSKey = "/nonexistent/key.pem"
	if _, err := daemon.New(cfg); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("missing cert files: %v", err)
	}
}
