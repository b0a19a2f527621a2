package api

import "testing"

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		have, need Scope
		ok         bool
	}{
		{ScopeRead, ScopeRead, true}, {ScopeRead, ScopeControl, false}, {ScopeRead, ScopeAdmin, false},
		{ScopeControl, ScopeRead, true}, {ScopeControl, ScopeControl, true}, {ScopeControl, ScopeAdmin, false},
		{ScopeAdmin, ScopeRead, true}, {ScopeAdmin, ScopeAdmin, true},
		{"", ScopeRead, false}, {"root", ScopeRead, false}, {"Admin", ScopeRead, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.ok {
			t.Errorf("%q.Allows(%q) = %v, want %v", tc.have, tc.need, got, tc.ok)
		}
	}
	if MethodScope("some.future_method") != ScopeAdmin {
		t.Error("an unlisted method does not need admin")
	}
	for m, s := range MethodScopes {
		if !s.Valid() {
			t.Errorf("%s needs an invalid scope %q", m, s)
		}
	}
}
