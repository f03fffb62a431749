package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/registry"

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
// With resources (the ECR API), repository policies are evaluated beside
// the keys' policies.
func newAuthorizer(cfg config.Server, pols map[string]*iampolicy.Policy, instances authz.Instances, resources authz.ResourcePolicies, logger *slog.Logger) *authz.Authorizer {
	return authz.New(authz.Options{Region: cfg.Region, Account: cfg.AccountID, Policies: pols, Instances: instances,
		ResourcePolicies: resources, Logger: logger})
}

// registryAuthorizer authorises the registry's requests as the ECR
// operations they stand for, with the same authorizer as the API: the
// key's policy and the repository's.
func registryAuthorizer(cfg config.Server, az *authz.Authorizer) registry.AuthorizeFunc {
	principals := map[string]string{}
	for _, k := range cfg.Credentials {
		principals[k.AccessKeyID] = k.Principal
	}
	return func(ctx context.Context, akid string, req *http.Request, repository, operation string) error {
		err := az.Authorize(ctx, &authz.Call{AccessKeyID: akid, Principal: principals[akid], Service: "ecr", Operation: operation,
			Input: &registryInput{RepositoryName: repository}, Request: req, RequestID: "registry"})
		if ae, ok := apierror.As(err); ok {
			return errors.New(ae.Message)
		}
		return err
	}
}

// registryInput is the input authz reads the repository from.
type registryInput struct {
	RepositoryName string
}
