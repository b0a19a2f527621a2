package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

// With no daemon running, doctor checks serve's configuration file and
// takes the dirs and addresses to check from it; a wrong file is an
// error naming its line and key, and the other checks still run.
func TestDoctorChecksTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := free.Addr().String() // nothing listens there once closed
	free.Close()
	good := filepath.Join(dir, "good.toml")
	write(t, good, "api_addr = \""+apiAddr+"\"\ndata_dir = \""+filepath.Join(dir, "data")+"\"\ndownload_dir = \""+filepath.Join(dir, "dl")+"\"\n")
	bad := filepath.Join(dir, "bad.toml")
	write(t, bad, "api_addr = \""+apiAddr+"\"\ndownlod_dir = \"/srv\"\n")
	run := func(args ...string) (int, map[string]api.DoctorFinding) {
		t.Helper()
		var out, errb syncbuf.Buffer
		code := cli.RunDoctor(context.Background(), append([]string{"--json"}, args...), &out, &errb, doctorSetup(envMap(map[string]string{"HOME": dir})))
		var res struct {
			Findings []api.DoctorFinding `json:"findings"`
		}
		if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
		}
		by := map[string]api.DoctorFinding{}
		for _, f := range res.Findings {
			if _, seen := by[f.Check]; seen {
				t.Errorf("two %s findings: %+v", f.Check, res.Findings)
			}
			by[f.Check] = f
		}
		return code, by
	}

	code, fs := run("--config", good)
	if code != cli.ExitOK {
		t.Errorf("exit %d with a right file: %+v", code, fs)
	}
	if f := fs["config_file"]; f.Level != api.DoctorOK || !strings.Contains(f.Message, good) {
		t.Errorf("config: %+v", f)
	}
	if f := fs["daemon"]; f.Level != api.DoctorWarn || !strings.Contains(f.Message, apiAddr) {
		t.Errorf("daemon (the file's api_addr): %+v", f)
	}
	if f := fs["download_dir"]; !strings.Contains(f.Message, filepath.Join(dir, "dl")) {
		t.Errorf("download_dir (the file's): %+v", f)
	}

	code, fs = run("--config", bad)
	if code != cli.ExitFailure {
		t.Errorf("exit %d with a wrong file, want %d", code, cli.ExitFailure)
	}
	if f := fs["config_file"]; f.Level != api.DoctorError || !strings.Contains(f.Message, "downlod_dir") || !strings.Contains(f.Message, bad+":2") {
		t.Errorf("config of a file with a mistyped key: %+v", f)
	}
	if _, ok := fs["data_dir"]; !ok {
		t.Errorf("the other checks did not run: %+v", fs)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
