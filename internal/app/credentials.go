package app

import (
	"fmt"
	"log/slog"

	"github.com/gantry-dev/gantry/internal/authz"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/iampolicy"
	"github.com/gantry-dev/gantry/internal/sigv4"
)

// credentials turns the configured access keys into the verifier's.
func credentials(keys []config.AccessKey) []sigv4.Credential {
	out := make([]sigv4.Credential, len(keys))
	for i, k := range keys {
		out[i] = sigv4.Credential{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Principal: k.Principal}
	}
	return out
}

// policies parses the policy document of every key that has one, in the
// order of the keys: the first that does not parse is an error naming the
// credentials file's line, the policy file, and IAM's reason with the line
// and column in the document. A key without a document is an
// administrator.
func policies(keys []config.AccessKey) (map[string]*iampolicy.Policy, error) {
	out := map[string]*iampolicy.Policy{}
	for _, k := range keys {
		if k.PolicyFile == "" {
			continue
		}
		p, err := iampolicy.Parse(k.Policy)
		if err != nil {
			return nil, fmt.Errorf("--credentials-file %s: policy file %s: %w", k.Source, k.PolicyFile, err)
		}
		out[k.AccessKeyID] = p
	}
	return out, nil
}

// newAuthorizer returns the authorizer of every API request: the keys'
// policies, and the container instances' own keys.
func newAuthorizer(cfg config.Server, pols map[string]*iampolicy.Policy, instances authz.Instances, logger *slog.Logger) *authz.Authorizer {
	return authz.New(authz.Options{Region: cfg.Region, Account: cfg.AccountID, Policies: pols, Instances: instances, Logger: logger})
}
