package service

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Categories (issue 16): named destinations, as qBittorrent has. A task
// added in a category without a download_dir goes to the category's save
// path; task.set moving a task into a category moves its data there; a
// task of a category with a complete path moves there once it finishes.
//
// The categories live in Service.categories (guarded by Service.mu) and in
// the store. Service.catMu orders the writers of categories against the
// requests that put tasks into them, so that no task is ever left naming
// a category that is gone: category.set and category.remove hold it for
// writing, task.add and task.set for reading from their check of the
// category to their commit.

// ErrNoSuchCategory: a request names a category that does not exist.
var ErrNoSuchCategory = errors.New("no such category")

// maxCategoryName bounds a category's name, in bytes: qBittorrent's own
// bound is the file system's, 255 bytes for a path component.
const maxCategoryName = 255

// cleanCategoryName trims name and checks it: 1 to 255 bytes of UTF-8,
// no control characters, no backslash, and "/" only between parts (as
// qBittorrent's subcategories "films/hd"): never first, last or doubled.
func cleanCategoryName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", fmt.Errorf("%w: a category name must not be empty", ErrInvalidParams)
	case len(name) > maxCategoryName:
		return "", fmt.Errorf("%w: a category name must be at most %d bytes", ErrInvalidParams, maxCategoryName)
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%w: a category name must be UTF-8", ErrInvalidParams)
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", fmt.Errorf("%w: category name %q has a control character", ErrInvalidParams, name)
	case strings.Contains(name, `\`):
		return "", fmt.Errorf("%w: category name %q has a backslash", ErrInvalidParams, name)
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//"):
		return "", fmt.Errorf("%w: category name %q: \"/\" may only separate subcategories (\"films/hd\")", ErrInvalidParams, name)
	}
	for _, part := range strings.Split(name, "/") {
		if strings.TrimSpace(part) != part {
			return "", fmt.Errorf("%w: category name %q: a subcategory name must not begin or end with a space", ErrInvalidParams, name)
		}
	}
	return name, nil
}

// wireCategory renders a stored category for the wire.
func wireCategory(c store.Category) api.Category {
	return api.Category{Name: c.Name, SavePath: c.SavePath, CompletePath: c.CompletePath}
}

// Categories returns every category, sorted by name.
func (s *Service) Categories() []api.Category {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.categoriesLocked()
}

// categoriesLocked is Categories; Service.mu must be held.
func (s *Service) categoriesLocked() []api.Category {
	out := make([]api.Category, 0, len(s.categories))
	for _, name := range slices.Sorted(maps.Keys(s.categories)) {
		out = append(out, wireCategory(s.categories[name]))
	}
	return out
}

// categoryLocked returns the category name (cleaned), or an error
// wrapping ErrNoSuchCategory (or ErrInvalidParams for a malformed name).
// Service.mu must be held.
func (s *Service) categoryLocked(name string) (store.Category, error) {
	clean, err := cleanCategoryName(name)
	if err != nil {
		return store.Category{}, err
	}
	c, ok := s.categories[clean]
	if !ok {
		return store.Category{}, fmt.Errorf("%w: %q (create it with category.set)", ErrNoSuchCategory, clean)
	}
	return c, nil
}

// categoryDirLocked returns the dir of the data of a task put in c: its
// save path, or the default download dir. Service.mu must be held.
func (s *Service) categoryDirLocked(c store.Category) string {
	if c.SavePath != "" {
		return c.SavePath
	}
	return s.defaultDirLocked()
}

// SetCategory creates the category c, or replaces the one of its name,
// durably, and returns it with its paths absolute. Its save path and
// complete path obey task.add's download_dir rules (relative to the
// default download dir, inside a download root); an empty save path is
// the default download dir at the time a task is added. The tasks already
// in it stay where they are.
func (s *Service) SetCategory(c api.Category) (api.Category, error) {
	leave, err := s.enter()
	if err != nil {
		return api.Category{}, err
	}
	defer leave()
	name, err := cleanCategoryName(c.Name)
	if err != nil {
		return api.Category{}, err
	}
	s.mu.Lock()
	base := s.defaultDirLocked()
	s.mu.Unlock()
	rec := store.Category{Name: name}
	for _, p := range []struct {
		field string
		in    string
		out   *string
	}{{"save_path", c.SavePath, &rec.SavePath}, {"complete_path", c.CompletePath, &rec.CompletePath}} {
		if strings.TrimSpace(p.in) == "" {
			continue
		}
		dir, err := s.resolveDownloadDir(p.in, base)
		if err != nil {
			return api.Category{}, fmt.Errorf("category %q %s: %w", name, p.field, err)
		}
		*p.out = dir
	}
	s.catMu.Lock()
	defer s.catMu.Unlock()
	if err := s.store.PutCategory(rec); err != nil {
		return api.Category{}, err
	}
	x := s.lock()
	s.categories[name] = rec
	x.emit(api.EventCategoryChanged, api.CategoryChangedData{Categories: s.categoriesLocked()})
	x.unlock()
	s.log.Info("category set", "name", name, "save_path", rec.SavePath, "complete_path", rec.CompletePath)
	return wireCategory(rec), nil
}

// RemoveCategory removes the category name, durably. Its tasks stay where
// their data is and are in no category anymore (as in qBittorrent); each
// gets a task.changed. An unknown name fails with ErrNoSuchCategory.
func (s *Service) RemoveCategory(name string) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	s.catMu.Lock()
	defer s.catMu.Unlock()
	s.mu.Lock()
	c, err := s.categoryLocked(name)
	var ids []string
	if err == nil {
		for id, tk := range s.tasks {
			if tk.rec.Category == c.Name {
				ids = append(ids, id)
			}
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.store.DeleteCategory(c.Name, ids); err != nil {
		return err
	}
	x := s.lock()
	delete(s.categories, c.Name)
	for _, id := range ids {
		if tk, ok := s.tasks[id]; ok && tk.rec.Category == c.Name {
			tk.rec.Category = ""
			x.changed(tk, "category")
		}
	}
	x.emit(api.EventCategoryChanged, api.CategoryChangedData{Categories: s.categoriesLocked()})
	x.unlock()
	s.log.Info("category removed", "name", c.Name, "tasks", len(ids))
	return nil
}

// changed queues task.changed for tk, whose fields named changed.
// Service.mu must be held (x is its holder).
func (x *locked) changed(tk *task, fields ...string) {
	x.emit(api.EventTaskChanged, api.TaskChangedData{TaskID: tk.rec.ID, Fields: fields, Task: tk.view(x.s.taskDir(tk), x.s.clock(), x.s.node)})
}

// completeMove is a finished task to move to its category's complete
// path.
type completeMove struct {
	id, category, dir string
}

// moveComplete moves a task that just finished to its category's complete
// path, as task.move does. It runs once per task, at its first finish: a
// failure (the move puts back what it moved) leaves the data where it was
// and is told as an engine.alert. Run as a goroutine counted in s.wg.
func (s *Service) moveComplete(c completeMove) {
	defer s.wg.Done()
	_, err := s.Move(c.id, c.dir)
	if err == nil {
		s.log.Info("finished task moved to its category's complete path", "task_id", c.id, "category", c.category, "dir", c.dir)
		return
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrTaskNotFound) {
		return
	}
	s.log.Warn("move a finished task to its category's complete path", "task_id", c.id, "category", c.category, "dir", c.dir, "err", err)
	x := s.lock()
	x.emit(api.EventEngineAlert, api.EngineAlertData{TaskID: c.id, Level: api.LevelError,
		Message: fmt.Sprintf("could not move the finished task to category %q's complete path %s; its data stays where it is: %v", c.category, c.dir, err)})
	x.unlock()
}
