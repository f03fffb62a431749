package docker

import (
	"slices"
	"testing"
	"time"
)

func TestImagesToRemove(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pulled := []pulledImage{
		{ref: "new", at: now.Add(-10 * time.Minute), imageID: "i-new"},
		{ref: "old-used", at: now.Add(-5 * time.Hour), imageID: "i-used"},
		{ref: "old-2", at: now.Add(-3 * time.Hour), imageID: "i-2"},
		{ref: "old-1", at: now.Add(-4 * time.Hour), imageID: "i-1"},
		{ref: "old-3", at: now.Add(-2 * time.Hour), imageID: "i-3"},
	}
	inUse := map[string]bool{"i-used": true}
	tests := []struct {
		name   string
		minAge time.Duration
		max    int
		want   []string
	}{
		{"oldest first, in use and young kept", time.Hour, 5, []string{"old-1", "old-2", "old-3"}},
		{"at most max", time.Hour, 2, []string{"old-1", "old-2"}},
		{"minimum age", 150 * time.Minute, 5, []string{"old-1", "old-2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := imagesToRemove(slices.Clone(pulled), inUse, now, tc.minAge, tc.max)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
