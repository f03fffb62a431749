package ecs

import (
	"context"

	"github.com/gantry-dev/gantry/internal/store"
)

// ScanKeys pages through the keys under prefix as the List operations do
// (scanPage), keeping those keep accepts, for the tests of package ecs_test.
func (s *API) ScanKeys(ctx context.Context, prefix, token string, limit int, keep func(key string) bool) ([]string, string, error) {
	items, next, err := s.scanPage(ctx, prefix, "test", token, limit, func(it store.Item) (bool, error) { return keep(it.Key), nil })
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return keys, next, err
}
