package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/bindif"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/socks"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// networkKey is the store's setting holding the network settings that
// session.set changed (a JSON object of storedNetwork); each one there
// wins over its serve flag at start, the others follow the flags.
const networkKey = "network"

// storedNetwork are the network settings session.set changed, by their
// wire names; nil ones were never set and follow the flags.
type storedNetwork struct {
	BindInterface *string `json:"bind_interface,omitempty"`
	BindAddress   *string `json:"bind_address,omitempty"`
	Proxy         *string `json:"proxy,omitempty"`
	ProxyOnly     *bool   `json:"proxy_only,omitempty"`
	Encryption    *string `json:"encryption,omitempty"`
	Anonymous     *bool   `json:"anonymous,omitempty"`
}

// overlay returns cfg with the stored settings in place of the flags'.
func (s storedNetwork) overlay(cfg Config) Config {
	if s.BindInterface != nil {
		cfg.BindInterface = *s.BindInterface
	}
	if s.BindAddress != nil {
		cfg.BindAddress = *s.BindAddress
	}
	if s.Proxy != nil {
		cfg.Proxy = *s.Proxy
	}
	if s.ProxyOnly != nil {
		cfg.ProxyAllowDirect = !*s.ProxyOnly
	}
	if s.Encryption != nil {
		cfg.Encryption = *s.Encryption
	}
	if s.Anonymous != nil {
		cfg.Anonymous = *s.Anonymous
	}
	return cfg
}

// loadNetwork returns cfg with the network settings stored by
// session.set in place of the flags', and what was stored. A stored
// combination that is refused (it was checked when set) fails the start
// with a message naming session.set.
func loadNetwork(cfg Config, st *store.Store) (Config, storedNetwork, error) {
	var s storedNetwork
	raw, err := st.Setting(networkKey)
	if err != nil || raw == nil {
		return cfg, s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return cfg, s, fmt.Errorf("stored network settings: %w", err)
	}
	cfg = s.overlay(cfg)
	if err := errors.Join(append(cfg.validateBind(), engine.CheckEncryption(cfg.Encryption))...); err != nil {
		return cfg, s, fmt.Errorf("network settings stored by session.set (they win over the serve flags; change them with session.set or the web UI): %w", err)
	}
	if cfg.Proxy != "" {
		if _, err := socks.Parse(cfg.Proxy); err != nil {
			return cfg, s, fmt.Errorf("proxy stored by session.set: %w", err)
		}
	}
	return cfg, s, nil
}

// netSettings is the daemon's network policy as session.get and
// session.set see it (service.Network): what the engine was told, kept
// in the store, and what the engine could not apply live.
type netSettings struct {
	store *store.Store
	log   *slog.Logger
	// eng and hub are set once, by New, before the service exists.
	eng engine.Engine
	hub *events.Hub

	// mu guards the fields below.
	mu sync.Mutex
	// cur is the policy asked for (flags, then session.set).
	cur    engine.Network
	stored storedNetwork
	// pending names the settings not in force until a restart.
	pending []string

	// started is the policy at start; offAtStart, whether a proxy-only
	// start turned off the DHT, uTP or UPnP that the flags asked for
	// (only a restart turns them on again).
	started    engine.Network
	offAtStart bool

	// fetchProxy is the proxy of the daemon's HTTP fetches (httpDial),
	// nil for direct ones.
	fetchProxy atomic.Pointer[socks.Proxy]
}

// newNetSettings starts from cfg, the flags with the stored settings
// laid over them (loadNetwork).
func newNetSettings(cfg Config, stored storedNetwork, st *store.Store, log *slog.Logger) *netSettings {
	n := &netSettings{store: st, log: log, stored: stored, pending: []string{}, cur: engine.Network{
		BindInterface: cfg.BindInterface, BindAddress: cfg.BindAddress,
		Proxy: cfg.Proxy, ProxyAllowDirect: cfg.ProxyAllowDirect,
		Encryption: cmp(cfg.Encryption, engine.EncryptionPrefer), Anonymous: cfg.Anonymous,
	}}
	n.started = n.cur
	n.offAtStart = proxyOnly(n.cur) && (cfg.DHT || cfg.UTP || cfg.UPnP)
	n.setFetchProxy(n.cur)
	return n
}

// cmp returns s, or def when s is empty.
func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Fill sets w's network fields.
func (n *netSettings) Fill(w *api.Settings) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w.BindInterface = n.cur.BindInterface
	w.BindAddress = n.cur.BindAddress
	w.Proxy = maskProxy(n.cur.Proxy)
	w.ProxyOnly = !n.cur.ProxyAllowDirect
	w.Encryption = n.cur.Encryption
	w.Anonymous = n.cur.Anonymous
	w.RestartRequired = slices.Clone(n.pending)
}

// maskProxy is the proxy URL without its password (socks.Proxy.String).
func maskProxy(raw string) string {
	if raw == "" {
		return ""
	}
	p, err := socks.Parse(raw)
	if err != nil {
		return "(unreadable)"
	}
	return p.String()
}

// Prepare checks p's network fields (service.Network).
func (n *netSettings) Prepare(p api.SessionSetParams) (func() error, error) {
	n.mu.Lock()
	next, stored := n.cur, n.stored
	n.mu.Unlock()
	var errs []error
	if p.BindInterface != nil {
		v := strings.TrimSpace(*p.BindInterface)
		if v != "" {
			// An interface that does not exist yet is fine (a VPN's
			// may come later): only the name and the system are checked.
			if _, err := bindif.Control(v); err != nil {
				errs = append(errs, fmt.Errorf("bind_interface %q: %w", v, err))
			} else if len(v) >= 16 || strings.ContainsAny(v, "/ \t\n:") {
				errs = append(errs, fmt.Errorf("bind_interface %q: not an interface name", v))
			}
		}
		next.BindInterface, stored.BindInterface = v, &v
	}
	if p.BindAddress != nil {
		v := strings.TrimSpace(*p.BindAddress)
		if v != "" {
			if err := checkLocalAddr(v); err != nil {
				errs = append(errs, fmt.Errorf("bind_address: %w", err))
			}
		}
		next.BindAddress, stored.BindAddress = v, &v
	}
	if p.Proxy != nil {
		v := strings.TrimSpace(*p.Proxy)
		switch {
		case v == "":
		case v == maskProxy(next.Proxy):
			// session.get's masked form given back: the password
			// in force is kept.
			v = next.Proxy
		default:
			if _, err := socks.Parse(v); err != nil {
				errs = append(errs, fmt.Errorf("proxy: %w", err))
			}
		}
		next.Proxy, stored.Proxy = v, &v
	}
	if p.ProxyOnly != nil {
		v := *p.ProxyOnly
		next.ProxyAllowDirect, stored.ProxyOnly = !v, &v
	}
	if p.Encryption != nil {
		v := *p.Encryption
		if v == "" {
			errs = append(errs, fmt.Errorf("encryption \"\": want %s, %s or %s", engine.EncryptionPrefer, engine.EncryptionRequire, engine.EncryptionDisable))
		} else if err := engine.CheckEncryption(v); err != nil {
			errs = append(errs, err)
		}
		next.Encryption, stored.Encryption = v, &v
	}
	if p.Anonymous != nil {
		v := *p.Anonymous
		next.Anonymous, stored.Anonymous = v, &v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return func() error { return n.apply(next, stored) }, nil
}

// apply stores next (as stored) for the next start, then gives it to
// the engine; one alert names the settings newly pending a restart.
func (n *netSettings) apply(next engine.Network, stored storedNetwork) error {
	raw, err := json.Marshal(stored)
	if err != nil {
		return err
	}
	if err := n.store.PutSetting(networkKey, raw); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	pending := n.eng.SetNetwork(next)
	if n.offAtStart && !proxyOnly(next) {
		// The engine runs without the DHT, uTP and UPnP that a
		// proxy-only start turned off: they come back at a restart.
		if next.Proxy != n.started.Proxy && !slices.Contains(pending, engine.SettingProxy) {
			pending = append(pending, engine.SettingProxy)
		}
		if next.ProxyAllowDirect != n.started.ProxyAllowDirect && !slices.Contains(pending, engine.SettingProxyOnly) {
			pending = append(pending, engine.SettingProxyOnly)
		}
	}
	var fresh []string
	for _, name := range pending {
		if !slices.Contains(n.pending, name) {
			fresh = append(fresh, name)
		}
	}
	n.cur, n.stored, n.pending = next, stored, pending
	n.setFetchProxy(next)
	n.log.Info("network settings changed", "bind_interface", next.BindInterface, "bind_address", next.BindAddress,
		"proxy", maskProxy(next.Proxy), "proxy_only", !next.ProxyAllowDirect, "encryption", next.Encryption,
		"anonymous", next.Anonymous, "restart_required", pending)
	if len(fresh) > 0 && n.hub != nil {
		if _, err := n.hub.Publish(api.EventEngineAlert, api.EngineAlertData{
			Level: api.LevelWarning,
			Message: fmt.Sprintf("network settings %s were saved but this engine core cannot change them while it runs: they take effect when the daemon restarts (session.get lists them in restart_required)",
				strings.Join(fresh, ", ")),
		}); err != nil {
			n.log.Error("publish restart alert", "err", err)
		}
	}
	return nil
}

// proxyOnly reports whether nothing leaves but through n's proxy.
func proxyOnly(n engine.Network) bool { return n.Proxy != "" && !n.ProxyAllowDirect }

// checkLocalAddr refuses s unless it is an address of one of this
// machine's interfaces (or the unspecified address).
func checkLocalAddr(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("%q is not an IP address", s)
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("list this machine's addresses: %w", err)
	}
	for _, ia := range addrs {
		if pfx, err := netip.ParsePrefix(ia.String()); err == nil && pfx.Addr().Unmap() == a.WithZone("") {
			return nil
		}
	}
	return fmt.Errorf("%s is not an address of this machine", a)
}
