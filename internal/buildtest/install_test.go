package buildtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// install runs scripts/install with args and the environment's extra
// variables, and returns its output.
func install(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "install")}, args...)...)
	// Only what the script reads: no XDG_CONFIG_HOME of the machine.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/install %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// inTree reports whether the repository has a file (the systemd units
// and the config command come from other work of issue 19: the install
// copies them once they exist and says it skipped them before).
func inTree(rel string) bool {
	_, err := os.Stat(filepath.Join(root, rel))
	return err == nil
}

func hasConfigInit(t *testing.T, bin string) bool {
	return exec.Command(bin, "config", "init", "-").Run() == nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInstallSystem installs for the machine into a DESTDIR root with
// another prefix, runs it again (an upgrade: nothing changes, the config
// file an admin edited stays), and checks --dry-run changes nothing.
func TestInstallSystem(t *testing.T) {
	bin := nocgoBinary(t)
	destdir := t.TempDir()
	env := []string{"DESTDIR=" + destdir, "HOME=" + t.TempDir()}
	out := install(t, env, "--binary", bin, "--prefix", "/opt/lodestone")
	t.Logf("first install:\n%s", out)

	installed := filepath.Join(destdir, "opt/lodestone/bin/lodestone")
	fi, err := os.Stat(installed)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("binary mode %v, want 0755", fi.Mode().Perm())
	}
	if readFile(t, installed) != readFile(t, bin) {
		t.Error("the installed binary differs from the built one")
	}
	if got := versionOf(t, []string{installed}); got.Version != stamp {
		t.Errorf("installed binary reports version %q, want %q", got.Version, stamp)
	}

	unit := filepath.Join(destdir, "etc/systemd/system/lodestone.service")
	if inTree("contrib/systemd/lodestone.service") {
		u := readFile(t, unit)
		if !strings.Contains(u, "\nExecStart=/opt/lodestone/bin/lodestone serve") {
			t.Errorf("the unit does not start the binary at the prefix:\n%s", u)
		}
		if !strings.Contains(out, "install    "+unit) {
			t.Errorf("output does not name %s", unit)
		}
	} else if !strings.Contains(out, "skip       the systemd unit") {
		t.Errorf("no unit in the tree, and the install does not say it skipped it:\n%s", out)
	}
	if inTree("contrib/systemd/lodestone.sysusers") {
		readFile(t, filepath.Join(destdir, "etc/sysusers.d/lodestone.conf"))
	}
	config := filepath.Join(destdir, "etc/lodestone/config.toml")
	if hasConfigInit(t, bin) {
		readFile(t, config)
		if err := os.WriteFile(config, []byte("# edited by the admin\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if _, err := os.Stat(config); err == nil || !strings.Contains(out, "no 'config init'") {
		t.Errorf("without config init, a config was written or the skip not said (%v):\n%s", err, out)
	}

	// Again: an upgrade to the same files changes nothing, and says so.
	out = install(t, env, "--binary", bin, "--prefix", "/opt/lodestone")
	t.Logf("second install:\n%s", out)
	if !strings.Contains(out, "unchanged  "+installed) || strings.Contains(out, "install    ") || strings.Contains(out, "update     ") {
		t.Errorf("a second install changed something:\n%s", out)
	}
	if hasConfigInit(t, bin) {
		if got := readFile(t, config); got != "# edited by the admin\n" || !strings.Contains(out, "kept       "+config) {
			t.Errorf("the admin's config was overwritten: %q\n%s", got, out)
		}
	}

	// A new binary is an update.
	newer := filepath.Join(t.TempDir(), "lodestone")
	if err := os.WriteFile(newer, append([]byte(readFile(t, bin)), 0), 0o755); err != nil {
		t.Fatal(err)
	}
	out = install(t, env, "--binary", newer, "--prefix", "/opt/lodestone")
	if !strings.Contains(out, "update     "+installed) || !bytes.Equal([]byte(readFile(t, installed)), []byte(readFile(t, newer))) {
		t.Errorf("the new binary was not installed:\n%s", out)
	}

	// --dry-run into an empty root writes nothing.
	empty := t.TempDir()
	out = install(t, []string{"DESTDIR=" + empty}, "--dry-run", "--binary", bin)
	if ents, _ := os.ReadDir(empty); len(ents) != 0 || !strings.Contains(out, "install    "+filepath.Join(empty, "usr/local/bin/lodestone")) {
		t.Errorf("--dry-run wrote %d entries or did not say what it would do:\n%s", len(ents), out)
	}
}

// TestInstallUser installs for a user whose home is a temporary dir.
func TestInstallUser(t *testing.T) {
	bin := nocgoBinary(t)
	home := t.TempDir()
	out := install(t, []string{"HOME=" + home}, "--user", "--binary", bin)
	t.Logf("user install:\n%s", out)
	if got := versionOf(t, []string{filepath.Join(home, ".local/bin/lodestone")}); got.Version != stamp {
		t.Errorf("installed binary reports version %q", got.Version)
	}
	if inTree("contrib/systemd/lodestone-user.service") {
		u := readFile(t, filepath.Join(home, ".config/systemd/user/lodestone.service"))
		if !strings.Contains(u, "\nExecStart=%h/.local/bin/lodestone serve") {
			t.Errorf("the user unit's ExecStart changed:\n%s", u)
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".config/lodestone/config.toml")); (err == nil) != hasConfigInit(t, bin) {
		t.Errorf("config file: %v, but config init available: %v", err, hasConfigInit(t, bin))
	}
	if !strings.Contains(out, "next: systemctl --user daemon-reload") {
		t.Errorf("no next step printed:\n%s", out)
	}
	// Again: nothing changes.
	out = install(t, []string{"HOME=" + home}, "--user", "--binary", bin)
	if strings.Contains(out, "install    ") || strings.Contains(out, "update     ") {
		t.Errorf("a second user install changed something:\n%s", out)
	}
}
