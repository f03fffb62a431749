package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/store"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/etcdembed"
)

// etcdCluster is the embedded member's cluster of m, nil for the default
// single member.
func etcdCluster(m config.EtcdMember) *etcdembed.Cluster {
	if !m.Clustered() {
		return nil
	}
	return &etcdembed.Cluster{
		Name: m.Name, InitialCluster: m.InitialCluster, State: m.InitialClusterState, Token: m.InitialClusterToken,
		ListenPeerURLs: m.ListenPeerURLs, AdvertisePeerURLs: m.AdvertisePeerURLs, ListenClientURLs: m.ListenClientURLs,
		PeerTLS: transport.TLSInfo{CertFile: m.PeerCert, KeyFile: m.PeerKey, TrustedCAFile: m.PeerTrustedCA, ClientCertAuth: m.PeerClientCertAuth},
	}
}

// quorumBackend answers the store's requests that etcd could not serve for
// want of a quorum (no leader, or a proposal that timed out because a
// majority of the members is gone) with a 503 ServerException that says
// so, instead of the generic server fault: the SDKs retry it, and an
// operator reading it learns what is wrong.
type quorumBackend struct{ store.Backend }

// noQuorum wraps err when it is etcd's answer for a missing quorum.
func noQuorum(err error) error {
	if err == nil {
		return nil
	}
	for _, q := range []error{rpctypes.ErrNoLeader, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrLeaderChanged, rpctypes.ErrTimeoutWaitAppliedIndex} {
		if errors.Is(err, q) {
			ae := apierror.New(apierror.CodeServer, "The control plane's etcd cluster has no quorum (%v): writes are refused until a majority of its members is back.", q)
			ae.Status = http.StatusServiceUnavailable
			return fmt.Errorf("%w: %w", ae, err)
		}
	}
	return err
}

// Txn passes the transaction through.
func (b quorumBackend) Txn(ctx context.Context, cmps []store.Cmp, then []store.Op) (store.TxnResult, error) {
	r, err := b.Backend.Txn(ctx, cmps, then)
	return r, noQuorum(err)
}

// Range passes the read through.
func (b quorumBackend) Range(ctx context.Context, r store.Range) (store.RangeResult, error) {
	res, err := b.Backend.Range(ctx, r)
	return res, noQuorum(err)
}

// Grant passes the lease grant through.
func (b quorumBackend) Grant(ctx context.Context, ttl time.Duration) (store.LeaseID, error) {
	id, err := b.Backend.Grant(ctx, ttl)
	return id, noQuorum(err)
}
