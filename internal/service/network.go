package service

import (
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
)

// Network is the daemon's network privacy policy (bind interface and
// address, SOCKS5 proxy, encryption, anonymous mode) as session.get and
// session.set see it. Safe for concurrent use.
type Network interface {
	// Fill sets the network fields of w: the policy in force, the
	// proxy's password masked, and what awaits a restart.
	Fill(w *api.Settings)
	// Prepare checks the network fields of p against the policy in
	// force and returns what puts them in force: apply stores them for
	// the next start, then applies them to the engine. A bad value is an
	// error and nothing changed. Calls are serialised by the caller.
	Prepare(p api.SessionSetParams) (apply func() error, err error)
}

// networkSettings fills the network fields of w.
func (s *Service) networkSettings(w *api.Settings) {
	w.RestartRequired = []string{}
	if s.network != nil {
		s.network.Fill(w)
	}
}

// prepareNetwork checks p's network fields, failing with
// ErrInvalidParams; apply is nil when p has none.
func (s *Service) prepareNetwork(p api.SessionSetParams) (apply func() error, err error) {
	if p.BindInterface == nil && p.BindAddress == nil && p.Proxy == nil && p.ProxyOnly == nil && p.Encryption == nil && p.Anonymous == nil {
		return nil, nil
	}
	if s.network == nil {
		return nil, fmt.Errorf("%w: network settings are not supported by this daemon", ErrInvalidParams)
	}
	apply, err = s.network.Prepare(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	return apply, nil
}
