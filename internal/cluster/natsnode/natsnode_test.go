package natsnode_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
)

// TestMain fails the package if a server or connection outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Three embedded servers routed into one NATS cluster hold a stream with
// three replicas: a message published through the first is read through the
// third, and every server holds a replica.
func TestThreeRoutedServersShareJetStream(t *testing.T) {
	nodes := natsnodetest.Cluster(t, "lodestone-test", 3)
	ctx := ctxT(t)
	for _, n := range nodes {
		if got := n.Server.ClusterName(); got != "lodestone-test" {
			t.Fatalf("cluster name %q", got)
		}
	}
	var s jetstream.Stream
	var err error
	// The stream's Raft group may need a moment after the meta leader.
	for {
		s, err = nodes[0].JS.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].JS.Publish(ctx, "t.x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	s2, err := nodes[2].JS.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s2.GetLastMsgForSubject(ctx, "t.x")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "hello" {
		t.Fatalf("read %q", m.Data)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("cluster info %+v: want a leader and 2 replicas", info.Cluster)
	}
}

// An embedded server with a user and password refuses a client with the
// wrong password and a node connecting to it as an external server with the
// right one gets JetStream.
func TestUserPassword(t *testing.T) {
	ctx := ctxT(t)
	a, err := natsnode.Start(ctx, natsnode.Options{Name: "a", ClusterName: "c", StoreDir: t.TempDir(), User: "lode", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	if nc, err := nats.Connect(a.ClientURL(), nats.UserInfo("lode", "wrong")); err == nil {
		nc.Close()
		t.Fatal("a wrong password was accepted")
	}
	if nc, err := nats.Connect(a.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("a client without credentials was accepted")
	}
	b, err := natsnode.Start(ctx, natsnode.Options{Name: "b", URLs: []string{a.ClientURL()}, User: "lode", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	if b.Server != nil {
		t.Fatal("external mode embedded a server")
	}
	if _, err := b.JS.AccountInfo(ctx); err != nil {
		t.Fatal(err)
	}
}

// With a certificate the embedded server speaks TLS only: a client that
// trusts the CA connects, one that does not is refused.
func TestTLS(t *testing.T) {
	ctx := ctxT(t)
	ca, cert, key := writeCerts(t)
	a, err := natsnode.Start(ctx, natsnode.Options{Name: "a", StoreDir: t.TempDir(), TLSCA: ca, TLSCert: cert, TLSKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	if !a.Conn.TLSRequired() {
		t.Fatal("connection is not TLS")
	}
	b, err := natsnode.Start(ctx, natsnode.Options{Name: "b", URLs: []string{a.ClientURL()}, TLSCA: ca})
	if err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	if nc, err := nats.Connect(a.ClientURL(), nats.Secure()); err == nil {
		nc.Close()
		t.Fatal("a client without the CA accepted the server's certificate")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    natsnode.Options
	}{
		{"no name", natsnode.Options{StoreDir: "x"}},
		{"dotted name", natsnode.Options{Name: "a.b", StoreDir: "x"}},
		{"no store", natsnode.Options{Name: "a"}},
		{"creds and user", natsnode.Options{Name: "a", URLs: []string{"nats://127.0.0.1:1"}, User: "u", CredsFile: "f"}},
		{"cert without key", natsnode.Options{Name: "a", StoreDir: "x", TLSCert: "c"}},
		{"routes without listen", natsnode.Options{Name: "a", StoreDir: "x", Routes: []string{"127.0.0.1:1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// writeCerts writes a CA and a server certificate for 127.0.0.1 signed by it.
func writeCerts(t *testing.T) (ca, cert, key string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lodestone test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caTmpl, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", srvDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// Embedded servers of two Lodestone clusters do not merge: each server's
// NATS cluster name is its Lodestone cluster name, and a server rejects a
// route from a server of another cluster name. Neither gets a route.
func TestRouteFromAnotherClusterRefused(t *testing.T) {
	ctx := ctxT(t)
	ports := []int{natsnodetest.FreePort(t), natsnodetest.FreePort(t)}
	refused := make(chan struct{}, 2)
	sctx, cancel := context.WithCancel(ctx)
	started := make(chan *natsnode.Node, 2)
	for i, name := range []string{"alpha", "beta"} {
		o := natsnodetest.Options(t, name, i, ports)
		o.Logger = slog.New(&watchHandler{want: "does not match", hit: refused})
		go func() {
			// Neither may ever see a JetStream meta leader; cancel ends
			// its Start.
			n, _ := natsnode.Start(sctx, o)
			started <- n
		}()
	}
	select {
	case <-refused:
	case <-ctx.Done():
		t.Fatal("no route was refused")
	}
	cancel()
	for range 2 {
		if n := <-started; n != nil {
			if r := n.Server.NumRoutes(); r != 0 {
				t.Errorf("%s has %d routes", n.Server.Name(), r)
			}
			n.Shutdown()
		}
	}
}

// watchHandler is a slog handler that signals hit once a record's
// attributes contain want.
type watchHandler struct {
	want string
	hit  chan struct{}
}

func (h *watchHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *watchHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *watchHandler) WithGroup(string) slog.Handler            { return h }
func (h *watchHandler) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if strings.Contains(a.Value.String(), h.want) {
			select {
			case h.hit <- struct{}{}:
			default:
			}
			return false
		}
		return true
	})
	return nil
}
