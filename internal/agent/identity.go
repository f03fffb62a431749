package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// instanceKey is the container instance's own access key, issued by the
// control plane after registration and kept in the identity file (mode
// 0600) beside the instance's ARN.
type instanceKey struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	For             string    `json:"containerInstanceArn"`
	IssuedAt        time.Time `json:"issuedAt"`
	RotateAfter     int64     `json:"rotateAfterSeconds"`
}

// issueOp is the extension operation that issues an instance key.
const issueOp = "GantryIssueInstanceCredentials"

// authFailure reports whether err says the key signing the request is not
// (or no longer) accepted.
func authFailure(err error) bool {
	var ae *ecsclient.Error
	return errors.As(err, &ae) && (ae.Code == "UnrecognizedClientException" || ae.Code == "InvalidSignatureException" ||
		ae.Code == "AccessDeniedException")
}

// useInstanceKey signs with the instance key of id, if it has one for its
// instance, and reports whether it does.
func (a *Agent) useInstanceKey(id *identity) bool {
	k := id.InstanceKey
	if k == nil || k.For == "" || k.For != id.ContainerInstanceArn {
		return false
	}
	a.client.SetCredentials(k.AccessKeyID, k.SecretAccessKey)
	return true
}

// useJoinKey signs with the key the agent was configured with.
func (a *Agent) useJoinKey() { a.client.SetCredentials(a.cfg.AccessKeyID, a.cfg.SecretAccessKey) }

// ensureInstanceKey makes the agent sign with its instance's own key,
// asking the control plane for one when it has none (signing that request
// with the key in use: the join key, or the current instance key when
// rotating). A control plane without agent identity leaves the join key
// in use.
func (a *Agent) ensureInstanceKey(ctx context.Context, id *identity, rotate bool) error {
	if !rotate && a.useInstanceKey(id) {
		return nil
	}
	var out ecsapi.GantryIssueInstanceCredentialsResponse
	err := a.client.Call(ctx, issueOp, &ecsapi.GantryIssueInstanceCredentialsRequest{Cluster: a.cfg.Cluster, ContainerInstance: id.ContainerInstanceArn}, &out)
	var ae *ecsclient.Error
	if errors.As(err, &ae) && ae.Code == "UnknownOperationException" {
		a.log.Warn("the control plane issues no instance keys: signing with the join key")
		return nil
	}
	if err != nil {
		return fmt.Errorf("issue the instance key: %w", err)
	}
	id.InstanceKey = &instanceKey{AccessKeyID: out.AccessKeyId, SecretAccessKey: out.SecretAccessKey, For: id.ContainerInstanceArn,
		IssuedAt: time.Now().UTC(), RotateAfter: out.RotateAfterSeconds}
	if err := saveIdentity(a.cfg.DataDir, *id); err != nil {
		return err
	}
	a.useInstanceKey(id)
	a.log.Info("signing with the instance's own key", "access_key_id", out.AccessKeyId, "rotate_after_s", out.RotateAfterSeconds)
	return nil
}

// rotateKeys replaces the instance key when it is due, until ctx ends.
// Once Run has started, only it changes a.id.InstanceKey.
func (a *Agent) rotateKeys(ctx context.Context) {
	for {
		wait := time.Hour
		if k := a.id.InstanceKey; k != nil && k.RotateAfter > 0 {
			wait = time.Until(k.IssuedAt.Add(time.Duration(k.RotateAfter) * time.Second))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, time.Minute)):
		}
		if a.id.InstanceKey == nil {
			continue
		}
		id := a.id
		if err := a.ensureInstanceKey(ctx, &id, true); err != nil {
			a.log.Warn("rotate the instance key", "err", err)
			continue
		}
		a.id.InstanceKey = id.InstanceKey
	}
}
