package engine

import "slices"

// Network is the part of Config that session.set may change while the
// engine runs (Engine.SetNetwork): where its sockets go and how it shows
// itself to peers. The fields mean what Config's of the same names mean.
type Network struct {
	BindInterface    string
	BindAddress      string
	Proxy            string
	ProxyAllowDirect bool
	Encryption       string
	Anonymous        bool
}

// Names of the Network settings, as session.set names them; SetNetwork
// reports those it could not apply live with them.
const (
	SettingBindInterface = "bind_interface"
	SettingBindAddress   = "bind_address"
	SettingProxy         = "proxy"
	SettingProxyOnly     = "proxy_only"
	SettingEncryption    = "encryption"
	SettingAnonymous     = "anonymous"
)

// network returns the Network part of c, with an empty Encryption read
// as EncryptionPrefer.
func (c Config) network() Network {
	n := Network{
		BindInterface: c.BindInterface, BindAddress: c.BindAddress,
		Proxy: c.Proxy, ProxyAllowDirect: c.ProxyAllowDirect,
		Encryption: c.Encryption, Anonymous: c.Anonymous,
	}
	return n.normal()
}

// normal returns n with an empty Encryption read as EncryptionPrefer,
// and ProxyAllowDirect false without a proxy (it means nothing then), so
// that equal policies compare equal.
func (n Network) normal() Network {
	if n.Encryption == "" {
		n.Encryption = EncryptionPrefer
	}
	if n.Proxy == "" {
		n.ProxyAllowDirect = false
	}
	return n
}

// changed names the settings that differ between a and b.
func changed(a, b Network) []string {
	a, b = a.normal(), b.normal()
	var out []string
	add := func(diff bool, name string) {
		if diff {
			out = append(out, name)
		}
	}
	add(a.BindInterface != b.BindInterface, SettingBindInterface)
	add(a.BindAddress != b.BindAddress, SettingBindAddress)
	add(a.Proxy != b.Proxy, SettingProxy)
	add(a.ProxyAllowDirect != b.ProxyAllowDirect, SettingProxyOnly)
	add(a.Encryption != b.Encryption, SettingEncryption)
	add(a.Anonymous != b.Anonymous, SettingAnonymous)
	return out
}

// pending returns the names in changed(started, want) that are not in
// live: the settings that differ from what the engine started with and
// that it cannot change while it runs. Never nil.
func pending(started, want Network, live ...string) []string {
	out := []string{}
	for _, name := range changed(started, want) {
		if !slices.Contains(live, name) {
			out = append(out, name)
		}
	}
	return out
}
