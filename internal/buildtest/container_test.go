package buildtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestContainerImage builds the image of contrib/container with podman
// (FROM scratch: nothing is pulled) and runs it on the host's network,
// which in the tests is a namespace with loopback only: the daemon in it
// answers server.info as the image's unprivileged user, keeping its state
// in the image's /data (it would not start if it could not write there).
func TestContainerImage(t *testing.T) {
	tools := needTools(t, []string{"podman"}, []string{"runc"})
	bin := nocgoBinary(t)
	// podman wants a short run root (50 characters at most): not
	// t.TempDir's.
	store, err := os.MkdirTemp("", "podman")
	if err != nil {
		t.Fatal(err)
	}
	// podman's storage is the test's own. runc and cgroupfs, because
	// crun refuses a hybrid cgroup hierarchy (this machine's), and
	// podman's default ulimits are above what root may set without
	// CAP_SYS_RESOURCE here.
	podman := []string{tools[0], "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
		"--runtime", tools[1], "--cgroup-manager", "cgroupfs"}
	t.Cleanup(func() {
		// podman's storage has files only it may remove (overlay mounts).
		_ = exec.Command(podman[0], append(podman[1:], "system", "reset", "--force")...).Run()
		os.RemoveAll(store)
	})
	const image = "localhost/lodestone-buildtest"
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "container"))
	cmd.Env = append(os.Environ(), "DIST="+filepath.Dir(bin), "IMAGE="+image, "PODMAN="+strings.Join(podman, " "))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/container: %v\n%s", err, out)
	}

	run := append(slices.Clone(podman), "run", "--rm", "--network", "host",
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
		"-e", "LODESTONE_TOKEN="+token, image)
	checkVersion(t, versionOf(t, run), "linux/amd64", false)
	logs := serveIn(t, run, "/data", "/downloads")
	if !strings.Contains(logs, "uTP is not compiled in") {
		t.Errorf("the static binary in the image does not say uTP is off:\n%s", logs)
	}

	// The image's user and files.
	inspect, err := exec.Command(podman[0], append(podman[1:], "image", "inspect", "--format", "{{.Config.User}} {{.Config.Entrypoint}}", image)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(inspect)); got != "65532:65532 [/lodestone]" {
		t.Errorf("image user and entrypoint = %q", got)
	}
}
