package ecs

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// WriteServiceRecord is WriteServiceRecordIf with etcd comparisons.
//
// Deprecated: only for internal/controller/service until it guards with
// store.Leadership (store.Campaign); it understands only the comparison
// that controller makes (a key's create revision equals a value).
func (s *API) WriteServiceRecord(ctx context.Context, cluster string, svc *ecsapi.Service, rev int64, guards ...clientv3.Cmp) (int64, error) {
	cmps := make([]store.Cmp, 0, len(guards))
	for _, g := range guards {
		cr, ok := g.TargetUnion.(*etcdserverpb.Compare_CreateRevision)
		if g.Target != etcdserverpb.Compare_CREATE || g.Result != etcdserverpb.Compare_EQUAL || !ok {
			return 0, fmt.Errorf("write service %s: unsupported guard on %s", svc.ServiceName, g.Key)
		}
		cmps = append(cmps, store.CreateRevisionIs(string(g.Key), cr.CreateRevision))
	}
	return s.WriteServiceRecordIf(ctx, cluster, svc, rev, cmps...)
}
