package qbittorrent

import (
	"errors"
	"net/http"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// qBittorrent's categories are Lodestone's (category.list/set/remove),
// translated. qBittorrent's "download path" (where an incomplete torrent
// is, when enabled) and "save path" (where it ends) are Lodestone's save
// path (where a task is added) and complete path (where it moves once
// finished): a category with a complete path is shown with that as its
// savePath and its save path as download_path, and one created with
// downloadPathEnabled=true is stored the other way round.

// categoryObject renders c as qBittorrent's category object.
func categoryObject(c api.Category) map[string]any {
	obj := map[string]any{"name": c.Name, "savePath": c.SavePath}
	if c.CompletePath != "" {
		obj["savePath"] = c.CompletePath
		obj["download_path"] = c.SavePath
	}
	return obj
}

// categoryObjects returns every category as qBittorrent's category
// object, by name: torrents/categories' answer and sync/maindata's
// categories.
func (h *Handler) categoryObjects() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, c := range h.svc.Categories() {
		out[c.Name] = categoryObject(c)
	}
	return out
}

// hasCategory reports whether the category name exists.
func (h *Handler) hasCategory(name string) bool {
	name = strings.TrimSpace(name)
	for _, c := range h.svc.Categories() {
		if c.Name == name {
			return true
		}
	}
	return false
}

// validCategoryName is qBittorrent's rule for a category name: not
// empty, no backslash, and "/" only between subcategories (never first,
// last or doubled). Lodestone's own checks (control characters, length)
// come after, in the service.
func validCategoryName(name string) bool {
	return name != "" && !strings.Contains(name, `\`) && !strings.HasPrefix(name, "/") &&
		!strings.HasSuffix(name, "/") && !strings.Contains(name, "//")
}

// ensureCategory creates the category name with the default save path
// if it does not exist, as qBittorrent does for a torrent added in an
// unknown category. "" is no category.
func (h *Handler) ensureCategory(name string) error {
	if strings.TrimSpace(name) == "" {
		return nil
	}
	h.catMu.Lock()
	defer h.catMu.Unlock()
	if h.hasCategory(name) {
		return nil
	}
	if !validCategoryName(name) {
		return errors.New("invalid category name")
	}
	_, err := h.svc.SetCategory(api.Category{Name: name})
	return err
}

// categoryFromForm reads a category's paths as createCategory and
// editCategory send them.
func categoryFromForm(r *http.Request) api.Category {
	c := api.Category{Name: r.FormValue("category"), SavePath: strings.TrimSpace(r.FormValue("savePath"))}
	if on, _ := parseBool(r.FormValue("downloadPathEnabled")); on {
		c.SavePath, c.CompletePath = strings.TrimSpace(r.FormValue("downloadPath")), c.SavePath
	}
	return c
}

// categories is torrents/categories: {name: {name, savePath[,
// download_path]}}.
func (h *Handler) categories(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, h.categoryObjects())
}

// createCategory is torrents/createCategory: category, savePath, and
// downloadPathEnabled/downloadPath.
func (h *Handler) createCategory(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "category") {
		return
	}
	c := categoryFromForm(r)
	if c.Name == "" {
		writeStatus(w, http.StatusBadRequest, "Category cannot be empty")
		return
	}
	if !validCategoryName(c.Name) {
		writeStatus(w, http.StatusConflict, "Incorrect category name")
		return
	}
	h.catMu.Lock()
	defer h.catMu.Unlock()
	if h.hasCategory(c.Name) {
		writeStatus(w, http.StatusConflict, "Unable to create category")
		return
	}
	h.putCategory(w, c, "Unable to create category")
}

// editCategory is torrents/editCategory: category, savePath, and
// downloadPathEnabled/downloadPath. The tasks in it stay where they are.
func (h *Handler) editCategory(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "category", "savePath") {
		return
	}
	c := categoryFromForm(r)
	if c.Name == "" {
		writeStatus(w, http.StatusBadRequest, "Category cannot be empty")
		return
	}
	h.catMu.Lock()
	defer h.catMu.Unlock()
	if !h.hasCategory(c.Name) {
		writeStatus(w, http.StatusConflict, "Unable to edit category")
		return
	}
	h.putCategory(w, c, "Unable to edit category")
}

// putCategory stores c and answers; what the service refuses (a path
// outside the download roots, a name it does not take) is 409 with
// qBittorrent's text (what) and the reason. h.catMu is held.
func (h *Handler) putCategory(w http.ResponseWriter, c api.Category, what string) {
	if _, err := h.svc.SetCategory(c); err != nil {
		if errors.Is(err, service.ErrInvalidParams) || errors.Is(err, service.ErrUnsafePath) {
			writeStatus(w, http.StatusConflict, what+": "+err.Error())
			return
		}
		h.fail(w, err)
		return
	}
	writeText(w, "")
}

// removeCategories is torrents/removeCategories: categories, one a line.
// Unknown names are ignored; the tasks in a removed category stay where
// they are, in none.
func (h *Handler) removeCategories(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "categories") {
		return
	}
	h.catMu.Lock()
	defer h.catMu.Unlock()
	for _, name := range strings.Split(r.FormValue("categories"), "\n") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if err := h.svc.RemoveCategory(name); err != nil && !errors.Is(err, service.ErrNoSuchCategory) &&
			!errors.Is(err, service.ErrInvalidParams) {
			h.fail(w, err)
			return
		}
	}
	writeText(w, "")
}

// setCategory is torrents/setCategory: hashes, and category ("" takes
// the tasks out of theirs). An unknown category is 409 "Incorrect
// category name". Putting a task in a category moves its data to the
// category's directory (Lodestone's task.set), before the answer.
func (h *Handler) setCategory(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes", "category") {
		return
	}
	name := r.FormValue("category")
	if strings.TrimSpace(name) != "" && !h.hasCategory(name) {
		writeStatus(w, http.StatusConflict, "Incorrect category name")
		return
	}
	h.each(w, r, func(id string) error {
		// A category removed meanwhile is ErrNoSuchCategory, which fail
		// answers as qBittorrent does.
		_, err := h.svc.Set(id, api.TaskSetParams{Category: &name})
		return err
	})
}
