package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/kgrca/kgplane/nomad"
)

// TemplateTarget receives template reloads. *Controller implements it.
type TemplateTarget interface {
	SetTemplates(*nomad.TemplateSet)
	TemplateLoadFailed(error)
	TemplateLoaded()
}

// WatchConfig says which files make up the template set.
type WatchConfig struct {
	Dir      string // JOBSPECS_DIR
	VarsFile string // JOBSPEC_VARS_FILE, may be empty
	// Debounce collapses the burst of events an editor's save makes (default 300ms).
	Debounce time.Duration
	// Reload, when a value arrives on it, reloads at once (SIGHUP).
	Reload <-chan os.Signal
	Logger *slog.Logger
}

// WatchTemplates reloads the template set whenever a file in Dir or the vars file
// changes (or on Reload), and hands a valid set to target. A broken edit keeps the
// last good set in force; the error names file:line:col.
func WatchTemplates(ctx context.Context, cfg WatchConfig, target TemplateTarget) error {
	if cfg.Debounce <= 0 {
		cfg.Debounce = 300 * time.Millisecond
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching templates: %w", err)
	}
	defer w.Close()
	// Watch directories, not files: editors replace files by rename, which would
	// silently end a watch on the file itself.
	dirs := map[string]bool{cfg.Dir: true}
	if cfg.VarsFile != "" {
		dirs[filepath.Dir(cfg.VarsFile)] = true
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watching %s: %w", d, err)
		}
	}
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !relevant(ev.Name, cfg) {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(cfg.Debounce)
			} else {
				timer.Reset(cfg.Debounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			cfg.Logger.Warn("template watch error", "error", err)
		case <-cfg.Reload:
			cfg.Logger.Info("reload requested (SIGHUP)")
			reload(cfg, target)
		case <-fire:
			fire = nil
			reload(cfg, target)
		}
	}
}

func relevant(name string, cfg WatchConfig) bool {
	if cfg.VarsFile != "" && filepath.Clean(name) == filepath.Clean(cfg.VarsFile) {
		return true
	}
	return filepath.Dir(filepath.Clean(name)) == filepath.Clean(cfg.Dir) && filepath.Ext(name) == ".hcl"
}

func reload(cfg WatchConfig, target TemplateTarget) {
	ts, err := nomad.LoadTemplates(cfg.Dir, cfg.VarsFile)
	if err != nil {
		target.TemplateLoadFailed(err)
		return
	}
	target.TemplateLoaded()
	target.SetTemplates(ts)
}
