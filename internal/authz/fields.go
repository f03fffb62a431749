package authz

import (
	"reflect"
	"strings"
	"sync"
)

// fieldNames are the input members Resources and the instance checks read.
var fieldNames = []string{"Cluster", "ClusterName", "Clusters", "Service", "Services", "ServiceName", "Task", "Tasks",
	"ContainerInstance", "ContainerInstances", "ContainerInstanceArn", "TaskDefinition", "ResourceArn",
	"LogGroupName", "LogGroupIdentifier", "RepositoryName", "AlarmName", "AlarmNames", "LogStreamName", "ContainerName", "TaskSet"}

// typeInfo is where an input type keeps those members, found once per
// type (reflection by name is slow per request).
type typeInfo struct {
	index map[string]int // member name -> field index
	arns  []int          // string members named *Arn
	arnsL []int          // []string members named *Arns
}

var typeInfos sync.Map // reflect.Type -> *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{index: map[string]int{}}
	for _, n := range fieldNames {
		if f, ok := t.FieldByName(n); ok && len(f.Index) == 1 {
			ti.index[n] = f.Index[0]
		}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case strings.HasSuffix(f.Name, "Arn") && f.Type.Kind() == reflect.String:
			ti.arns = append(ti.arns, i)
		case strings.HasSuffix(f.Name, "Arns") && f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			ti.arnsL = append(ti.arnsL, i)
		}
	}
	typeInfos.Store(t, ti)
	return ti
}

// field returns member name of v, if its type has one.
func field(v reflect.Value, name string) (reflect.Value, bool) {
	i, ok := infoOf(v.Type()).index[name]
	if !ok {
		return reflect.Value{}, false
	}
	return v.Field(i), true
}
