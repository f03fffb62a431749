package elb

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/elbv2api"
)

// sortKey orders a listing: creation time, then ID.
func sortKey(created int64, id string) string { return fmt.Sprintf("%020d/%s", created, id) }

// page returns the items of a listing (in sortKey order) after marker, at
// most pageSize (1 to 400, 400 when nil) of them, and the marker of the
// next page ("" at the end). A marker is opaque to clients: the sort key
// of the last item answered, so deletions between pages lose nothing.
func page[T any](items []T, key func(T) string, marker string, pageSize *int32) ([]T, string, error) {
	size := maxPageSize
	if pageSize != nil {
		if *pageSize < 1 || *pageSize > maxPageSize {
			return nil, "", validation("1 validation error detected: Value '%d' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and 400", *pageSize)
		}
		size = int(*pageSize)
	}
	start := 0
	if marker != "" {
		b, err := base64.RawURLEncoding.DecodeString(marker)
		if err != nil || !strings.Contains(string(b), "/") {
			return nil, "", validation("Invalid value '%s' for marker", marker)
		}
		after := string(b)
		start = len(items)
		for i, it := range items {
			if key(it) > after {
				start = i
				break
			}
		}
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	return slices.Clone(items[start:end]), next, nil
}

func timestampMilli(ms int64) *awstime.Timestamp {
	return awstime.NewTimestamp(time.UnixMilli(ms).UTC())
}

// tagsCopy returns a copy of tags, never nil.
func tagsCopy(tags []elbv2api.Tag) []elbv2api.Tag {
	return append([]elbv2api.Tag{}, tags...)
}
