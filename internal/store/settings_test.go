package store

import (
	"errors"
	"slices"
	"testing"
)

func TestSettingsRoundTripAndVersions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Settings(); err != nil || got != (Settings{Version: SettingsVersion}) {
		t.Fatalf("no settings: %+v, %v", got, err)
	}
	if port, err := s.PeerPort(); err != nil || port != 0 {
		t.Fatalf("no peer port: %d, %v", port, err)
	}
	want := Settings{DownloadRateLimit: 5, MaxActiveSeeds: 2, SeedRatioLimit: 1.5, SeedIdleLimit: 600, DownloadDir: "/srv/dl"}
	if err := s.PutSettings(want, 51413); err != nil {
		t.Fatal(err)
	}
	want.Version = SettingsVersion
	if got, err := s.Settings(); err != nil || got != want {
		t.Errorf("settings %+v, %v; want %+v", got, err, want)
	}
	if port, err := s.PeerPort(); err != nil || port != 51413 {
		t.Errorf("peer port %d, %v", port, err)
	}
	// Port 0 keeps the stored one.
	if err := s.PutSettings(want, 0); err != nil {
		t.Fatal(err)
	}
	if port, _ := s.PeerPort(); port != 51413 {
		t.Errorf("peer port %d after a write without one", port)
	}
	// Settings written before versions existed (the wire's JSON) read as
	// version 1; a newer version is refused, not misread.
	if err := s.PutSetting(settingsKey, []byte(`{"download_rate_limit":7,"peer_port":9}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Settings(); err != nil || got.DownloadRateLimit != 7 || got.Version != SettingsVersion {
		t.Errorf("unversioned settings: %+v, %v", got, err)
	}
	if err := s.PutSetting(settingsKey, []byte(`{"version":99}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Settings(); err == nil {
		t.Error("settings of a newer version were read")
	}
}

func TestUpdateTasksIsOneTransaction(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"a", "b"} {
		if err := s.PutTask(Task{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	updated, err := s.UpdateTasks(map[string]func(*Task){
		"a":    func(t *Task) { t.Uploaded = 1 },
		"b":    func(t *Task) { t.Uploaded = 2 },
		"gone": func(t *Task) { t.Uploaded = 3 },
	})
	slices.Sort(updated)
	if err != nil || !slices.Equal(updated, []string{"a", "b"}) {
		t.Fatalf("updated %v, %v", updated, err)
	}
	tasks, err := s.Tasks()
	if err != nil || len(tasks) != 2 || tasks[0].Uploaded != 1 || tasks[1].Uploaded != 2 {
		t.Errorf("tasks %+v, %v", tasks, err)
	}
	if err := s.UpdateTask("gone", func(*Task) {}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing task: %v", err)
	}
}
