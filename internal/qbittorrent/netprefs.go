package qbittorrent

import (
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strconv"

	"github.com/lodestone-bt/lodestone/api"
)

// qBittorrent's connection preferences, mapped onto Lodestone's network
// settings: encryption (0 prefer, 1 require, 2 disable: the same three
// policies), anonymous_mode, and the proxy, of which Lodestone has one
// kind, SOCKS5 (proxy_type "SOCKS5", or 2 and 4 in the WebAPI's older
// numbers). The proxy's password is shown as "***" (as session.get masks
// it); given back unchanged with the same user, host and port, it keeps
// the password in force.

// encryptionModes are qBittorrent's encryption numbers, by policy.
var encryptionModes = map[string]int{"prefer": 0, "require": 1, "disable": 2}

// netPrefs adds the connection preferences of st to m.
func netPrefs(st api.Settings, m map[string]any) {
	if n, ok := encryptionModes[st.Encryption]; ok {
		m["encryption"] = n
	}
	m["anonymous_mode"] = st.Anonymous
	m["proxy_type"] = "None"
	m["proxy_ip"] = ""
	m["proxy_port"] = 8080 // qBittorrent's default
	m["proxy_auth_enabled"] = false
	m["proxy_username"] = ""
	m["proxy_password"] = ""
	m["proxy_peer_connections"] = false
	if st.Proxy == "" {
		return
	}
	u, err := url.Parse(st.Proxy)
	if err != nil {
		return
	}
	port, _ := strconv.Atoi(u.Port())
	m["proxy_type"] = "SOCKS5"
	m["proxy_ip"] = u.Hostname()
	m["proxy_port"] = port
	// Lodestone proxies peers and trackers alike.
	m["proxy_peer_connections"] = true
	if u.User != nil {
		m["proxy_auth_enabled"] = true
		m["proxy_username"] = u.User.Username()
		if _, ok := u.User.Password(); ok {
			m["proxy_password"] = "***"
		}
	}
}

// netParams reads setPreferences' connection keys into p, against the
// settings in force st: only what changes (qBittorrent's web UI sends
// every preference back on save).
func netParams(raw map[string]json.RawMessage, st api.Settings, p *api.SessionSetParams) error {
	get := func(key string, v any) (bool, error) {
		b, ok := raw[key]
		if !ok {
			return false, nil
		}
		if err := json.Unmarshal(b, v); err != nil {
			return false, errors.New("'" + key + "' parameter is invalid")
		}
		return true, nil
	}
	var enc int
	if ok, err := get("encryption", &enc); err != nil {
		return err
	} else if ok {
		var policy string
		for k, n := range encryptionModes {
			if n == enc {
				policy = k
			}
		}
		if policy == "" {
			return errors.New("'encryption' parameter is invalid")
		}
		if policy != st.Encryption {
			p.Encryption = &policy
		}
	}
	var anon bool
	if ok, err := get("anonymous_mode", &anon); err != nil {
		return err
	} else if ok && anon != st.Anonymous {
		p.Anonymous = &anon
	}
	return proxyParams(raw, st, p, get)
}

// proxyParams reads the proxy_* keys: the proxy in force with the keys
// given applied.
func proxyParams(raw map[string]json.RawMessage, st api.Settings, p *api.SessionSetParams, get func(string, any) (bool, error)) error {
	cur := netPrefsOf(st)
	kind, _ := cur["proxy_type"].(string)
	host, _ := cur["proxy_ip"].(string)
	port, _ := cur["proxy_port"].(int)
	auth, _ := cur["proxy_auth_enabled"].(bool)
	user, _ := cur["proxy_username"].(string)
	pass, _ := cur["proxy_password"].(string)
	changed := false
	if b, ok := raw["proxy_type"]; ok {
		changed = true
		var n int
		if err := json.Unmarshal(b, &kind); err != nil {
			// The WebAPI before 2.9 numbers them: -1 none, 2 and 4
			// SOCKS5 (without and with a password).
			if err := json.Unmarshal(b, &n); err != nil {
				return errors.New("'proxy_type' parameter is invalid")
			}
			switch n {
			case -1, 0:
				kind = "None"
			case 2, 4:
				kind = "SOCKS5"
				auth = n == 4
			default:
				kind = strconv.Itoa(n)
			}
		}
	}
	for _, f := range []struct {
		key string
		v   any
	}{{"proxy_ip", &host}, {"proxy_port", &port}, {"proxy_auth_enabled", &auth}, {"proxy_username", &user}, {"proxy_password", &pass}} {
		ok, err := get(f.key, f.v)
		if err != nil {
			return err
		}
		changed = changed || ok
	}
	if !changed {
		return nil
	}
	var next string
	switch kind {
	case "None", "":
	case "SOCKS5":
		if host == "" || port < 1 || port > 65535 {
			return errors.New("a SOCKS5 proxy needs proxy_ip and proxy_port (1 to 65535)")
		}
		u := url.URL{Scheme: "socks5", Host: net.JoinHostPort(host, strconv.Itoa(port))}
		if auth && user != "" {
			u.User = url.UserPassword(user, pass)
		}
		next = u.String()
	default:
		return errors.New("proxy_type " + kind + " is not supported: Lodestone speaks SOCKS5 only")
	}
	if next != st.Proxy {
		p.Proxy = &next
	}
	return nil
}

// netPrefsOf is netPrefs as a map of its own.
func netPrefsOf(st api.Settings) map[string]any {
	m := map[string]any{}
	netPrefs(st, m)
	return m
}
