package app

import (
	"github.com/gantry-dev/gantry/internal/config"
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
