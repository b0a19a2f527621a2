package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"go.etcd.io/bbolt"
)

// SettingsVersion is the version of Settings this package writes. A
// record without a version (0) was written before versions existed; its
// fields are those of version 1.
const SettingsVersion = 1

// settingsKey is where Settings live among the settings.
const settingsKey = "session"

// Settings is the durable form of the daemon-wide settings (session.set).
// It is the store's own struct, not the wire's: a field added to the API
// does not change what is on disk unless it is added here too.
type Settings struct {
	// Version is SettingsVersion when written by this package.
	Version int `json:"version,omitempty"`
	// DownloadRateLimit and UploadRateLimit cap the whole daemon, in bytes
	// per second; 0 is none.
	DownloadRateLimit int64 `json:"download_rate_limit"`
	UploadRateLimit   int64 `json:"upload_rate_limit"`
	// MaxActiveDownloads and MaxActiveSeeds bound the tasks transferring
	// at once; 0 is none.
	MaxActiveDownloads int `json:"max_active_downloads"`
	MaxActiveSeeds     int `json:"max_active_seeds"`
	// SeedRatioLimit and SeedTimeLimit (seconds) end seeding; 0 is none.
	SeedRatioLimit float64 `json:"seed_ratio_limit"`
	SeedTimeLimit  int64   `json:"seed_time_limit"`
	// SeedIdleLimit (seconds without upload while seeding) ends seeding;
	// 0 is none. Records written before it existed have none.
	SeedIdleLimit int64 `json:"seed_idle_limit,omitempty"`
	// DownloadDir is the default download dir of new tasks, resolved; ""
	// is the daemon's --download-dir.
	DownloadDir string `json:"download_dir"`
}

// Settings returns the stored settings: the zero value (of the current
// version) when none were stored. A record of a newer version is refused
// rather than misread.
func (s *Store) Settings() (Settings, error) {
	set := Settings{Version: SettingsVersion}
	b, err := s.Setting(settingsKey)
	if err != nil || b == nil {
		return set, err
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return Settings{}, fmt.Errorf("decode settings: %w", err)
	}
	switch set.Version {
	case 0, SettingsVersion:
		set.Version = SettingsVersion
		return set, nil
	}
	return Settings{}, fmt.Errorf("settings version %d is newer than this daemon's (%d)", set.Version, SettingsVersion)
}

// PutSettings durably stores set and, when peerPort is above 0, the peer
// port (SettingPeerPort), in one transaction: both or neither.
func (s *Store) PutSettings(set Settings, peerPort int) error {
	set.Version = SettingsVersion
	b, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put([]byte("setting/"+settingsKey), b); err != nil {
			return err
		}
		if peerPort > 0 {
			return meta.Put([]byte("setting/"+SettingPeerPort), []byte(strconv.Itoa(peerPort)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	return nil
}

// PeerPort returns the stored peer port (SettingPeerPort), 0 when none.
func (s *Store) PeerPort() (int, error) {
	b, err := s.Setting(SettingPeerPort)
	if err != nil || b == nil {
		return 0, err
	}
	port, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, fmt.Errorf("setting %s: %w", SettingPeerPort, err)
	}
	return port, nil
}

// UpdateTasks applies each function of fns to its stored task and writes
// the results back, all in one transaction, durably. A task that is no
// longer stored (removed meanwhile) is skipped and left out of the
// returned list of ids updated. Like UpdateTask's, each function must only
// change the task it is given, may run more than once, and is given the
// task without its metainfo.
func (s *Store) UpdateTasks(fns map[string]func(*Task)) (updated []string, err error) {
	if len(fns) == 0 {
		return nil, nil
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		updated = updated[:0]
		for id, fn := range fns {
			err := updateTask(tx, id, fn)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				// Tasks before it are written: roll them back.
				return errAbort{fmt.Errorf("task %s: %w", id, err)}
			}
			updated = append(updated, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update %d tasks: %w", len(fns), err)
	}
	return updated, nil
}
