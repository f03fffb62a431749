package registry

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"github.com/sirupsen/logrus"
)

// routeOnce guards the one change Gantry makes to logrus's standard
// logger, which distribution logs through and offers no other way to
// replace: its lines go to the first registry's slog logger, warnings and
// errors only (distribution writes a line per request at info level).
var routeOnce sync.Once

func routeLibraryLogs(logger *slog.Logger) {
	routeOnce.Do(func() {
		std := logrus.StandardLogger()
		std.SetOutput(io.Discard)
		std.SetLevel(logrus.WarnLevel)
		std.AddHook(slogHook{logger})
	})
}

// slogHook forwards logrus entries to slog.
type slogHook struct{ logger *slog.Logger }

func (slogHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h slogHook) Fire(e *logrus.Entry) error {
	level := slog.LevelWarn
	if e.Level <= logrus.ErrorLevel {
		level = slog.LevelError
	}
	// distribution logs every answer of 4xx (a HEAD of a blob the client
	// is about to push, say) as an error: those are the client's.
	if st, ok := e.Data["http.response.status"].(int); ok && st < 500 {
		level = slog.LevelDebug
	}
	attrs := make([]any, 0, 2*len(e.Data))
	for k, v := range e.Data {
		attrs = append(attrs, k, v)
	}
	h.logger.Log(context.Background(), level, "distribution: "+e.Message, attrs...)
	return nil
}
