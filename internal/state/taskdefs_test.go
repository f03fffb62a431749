package state

import (
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
)

func TestTaskDefView(t *testing.T) {
	rec := func(status ecsapi.TaskDefinitionStatus) *record.TaskDef {
		return &record.TaskDef{TaskDefinition: ecsapi.TaskDefinition{Status: status}}
	}
	v := newTDView()
	v.put("b", 2, 10, rec(record.TaskDefActive))
	v.put("b", 1, 9, rec(record.TaskDefActive))
	v.put("a", 1, 11, rec(ecsapi.TaskDefinitionStatus("INACTIVE")))
	v.put("b", 3, 12, rec(ecsapi.TaskDefinitionStatus("INACTIVE")))
	if !slices.Equal(v.Names, []string{"a", "b"}) || v.Families["b"].Active != 2 || v.Families["a"].Active != 0 {
		t.Fatalf("names %v, active b %d a %d", v.Names, v.Families["b"].Active, v.Families["a"].Active)
	}
	if e, ok := v.lookup("b", 0); !ok || e.Rev != 2 {
		t.Fatalf("latest ACTIVE of b: %+v %v", e, ok)
	}
	if _, ok := v.lookup("a", 0); ok {
		t.Fatal("a has no ACTIVE revision")
	}
	// An older version never replaces a newer one.
	v.put("b", 2, 5, rec(ecsapi.TaskDefinitionStatus("INACTIVE")))
	if e, _ := v.lookup("b", 2); e.ModRev != 10 {
		t.Fatalf("stale put applied: %+v", e)
	}
	v.put("b", 2, 13, rec(ecsapi.TaskDefinitionStatus("INACTIVE")))
	if e, ok := v.lookup("b", 0); !ok || e.Rev != 1 || v.Families["b"].Active != 1 {
		t.Fatalf("after deregistering b:2: %+v %v active %d", e, ok, v.Families["b"].Active)
	}
	v.del("a", 1)
	if !slices.Equal(v.Names, []string{"b"}) || v.Families["a"] != nil {
		t.Fatalf("a should be gone: %v", v.Names)
	}
	for _, key := range []string{record.TaskDefKey("b", 7), record.TaskDefKey("with-dash_1", 1234567)} {
		f, r, ok := record.ParseTaskDefKey(key)
		if !ok || record.TaskDefKey(f, r) != key {
			t.Errorf("record.ParseTaskDefKey(%q) = %q %d %v", key, f, r, ok)
		}
	}
	if _, _, ok := record.ParseTaskDefKey(record.FamilyKey("b")); ok {
		t.Error("a family key parsed as a revision key")
	}
}
