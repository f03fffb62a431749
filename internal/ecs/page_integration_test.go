package ecs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/store"
)

// TestScanPageWindows: listings read a prefix in windows of the key space;
// whatever the keys look like (random hex IDs, IDs that begin with the
// time, short names, bytes at the ends of the range), paging through them
// returns every key once, in order, with pages of the size asked for.
func TestScanPageWindows(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	st := env.Server.ECS.Store
	hexID := func() string {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	sets := map[string][]string{
		"random": nil,
		"timed":  nil,
		"names":  {"a", "b", "svc-1", "svc-10", "svc-2", "zz", "~"},
		// Keys are UTF-8 (tokens carry them as JSON strings): the highest
		// bytes a key can hold are those of U+10FFFF.
		"edges":     {"\x01", "\x01\x00", "\u007f", "\U0010FFFF", strings.Repeat("\U0010FFFF", 5), "0", "0000000000000000"},
		"empty":     {},
		"one":       {"only"},
		"clustered": nil,
	}
	for range 1500 {
		sets["random"] = append(sets["random"], hexID())
	}
	for i := range 1500 {
		sets["timed"] = append(sets["timed"], fmt.Sprintf("019ac0ffee%02x", i/100)+hexID()[:20])
	}
	for range 300 {
		sets["clustered"] = append(sets["clustered"], "0000000000000000000000000000"+hexID()[:4])
	}
	for name, ids := range sets {
		t.Run(name, func(t *testing.T) {
			prefix := store.Key("scantest", name) + "/"
			// Random parts may repeat (the clustered set has 65,536 values):
			// each key is written once.
			slices.Sort(ids)
			ids = slices.Compact(ids)
			var want []string
			for i := 0; i < len(ids); i += 100 {
				var ops []store.Op
				for _, id := range ids[i:min(i+100, len(ids))] {
					ops = append(ops, store.OpPut(prefix+id, []byte("x")))
					want = append(want, prefix+id)
				}
				if _, err := st.Txn(ctx, nil, ops...); err != nil {
					t.Fatal(err)
				}
			}
			// A key just past the prefix must not be listed.
			if _, err := st.Txn(ctx, nil, store.OpPut(strings.TrimSuffix(prefix, "/")+"0", []byte("x"))); err != nil {
				t.Fatal(err)
			}
			slices.Sort(want)
			want = slices.Compact(want)
			for _, limit := range []int{1, 7, 100} {
				for _, filtered := range []bool{false, true} {
					keep := func(k string) bool { return !filtered || k[len(k)-1]%3 != 0 }
					var exp []string
					for _, k := range want {
						if keep(k) {
							exp = append(exp, k)
						}
					}
					var got []string
					tok := ""
					for pages := 0; ; pages++ {
						if pages > len(want)+2 {
							t.Fatalf("limit %d: paging does not end", limit)
						}
						keys, next, err := env.Server.ECS.ScanKeys(ctx, prefix, tok, limit, keep)
						if err != nil {
							t.Fatal(err)
						}
						if len(keys) > limit || next != "" && len(keys) != limit {
							t.Fatalf("limit %d: page of %d keys (next %q)", limit, len(keys), next)
						}
						got = append(got, keys...)
						if next == "" {
							break
						}
						tok = next
					}
					if !slices.Equal(got, exp) {
						t.Fatalf("limit %d filtered %v: %d keys listed, want %d", limit, filtered, len(got), len(exp))
					}
				}
			}
		})
	}
	// A token made up by the caller is refused.
	if _, _, err := env.Server.ECS.ScanKeys(ctx, store.Key("scantest", "random")+"/", "bm90LWEtdG9rZW4", 10, func(string) bool { return true }); err == nil {
		t.Fatal("a made-up token was accepted")
	}
}
