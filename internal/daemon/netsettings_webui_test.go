package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

// The web UI's Privacy page (the network settings, issue 18), driven in
// headless Chromium and checked through the daemon's API: it shows
// session.get's values, saves a changed encryption policy and a proxy
// with a password (shown masked afterwards, and kept when the masked
// form is saved again), shows what takes a restart (the anacrolix core's
// encryption), and shows the daemon's refusal of a bad address while
// nothing changes.
func TestWebUISettingsPrivacy(t *testing.T) {
	chromiumPath(t)
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	b := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.openSettings("privacy")
	b.waitJS("the policy in force", `document.getElementById('p-enc').value === 'prefer' && document.getElementById('p-proxy-only').checked`, 10*time.Second)

	evalJS[bool](b, `(() => { document.getElementById('p-enc').value = 'require'; return true })()`)
	b.typeInto("#p-proxy", "socks5://alice:s3cret@127.0.0.1:1")
	b.click("#p-save")
	const masked = "socks5://alice:***@127.0.0.1:1"
	b.waitJS("the masked proxy", `document.getElementById('p-proxy').value === `+jsString(masked), 10*time.Second)
	s := getSettings(t, c)
	if s.Encryption != "require" || s.Proxy != masked {
		t.Fatalf("after the form: %+v", networkOf(s))
	}
	if daemontest.Core() == engine.CoreAnacrolix {
		b.waitJS("the restart note", `!document.getElementById('p-restart').hidden && document.getElementById('p-restart').textContent.includes('encryption')`, 5*time.Second)
	} else if !evalJS[bool](b, `document.getElementById('p-restart').hidden`) {
		t.Errorf("native core: the restart note is shown: %q", evalJS[string](b, `document.getElementById('p-restart').textContent`))
	}

	// A bad address: the daemon's reason is shown, nothing changes.
	b.typeInto("#p-addr", "198.18.77.77")
	b.click("#p-save")
	b.waitJS("the error notice", `[...document.querySelectorAll('#toasts .toast.error')].some((t) => t.textContent.includes('(error 103)'))`, 10*time.Second)
	if msg := lastErrorToast(b); !strings.Contains(msg, "not an address of this machine") {
		t.Errorf("error notice %q: want the daemon's reason", msg)
	}
	if got := getSettings(t, c); got.BindAddress != "" || got.Encryption != "require" || got.Proxy != masked {
		t.Errorf("after a refused save: %+v", networkOf(got))
	}

	// The masked proxy saved again keeps the password.
	evalJS[bool](b, `(() => { document.getElementById('p-addr').value = ''; return true })()`)
	b.click("#p-save")
	b.waitJS("saved again", `[...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent.includes('Privacy settings saved'))`, 10*time.Second)
	b.snapshot("settings-privacy")
	b.checkConsole()
	d.Stop(t)
	if p := storedNetwork(t, dirs.Data)["proxy"]; p != "socks5://alice:s3cret@127.0.0.1:1" {
		t.Errorf("stored proxy %v: the password was lost", p)
	}
}
