package config

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Development credentials, used by `gantry dev` and documented in the README.
// A server using them listens on loopback only.
const (
	DevAccessKeyID     = "AKIDGANTRYDEV0000000"
	DevSecretAccessKey = "gantry-dev-secret-access-key"
)

// The environment variables of the access key the server accepts and the
// agent signs with.
const (
	EnvAccessKeyID     = "GANTRY_ACCESS_KEY_ID"
	EnvSecretAccessKey = "GANTRY_SECRET_ACCESS_KEY"
)

// AccessKey is one access key the API accepts and the principal that
// requests signed with it act as.
type AccessKey struct {
	AccessKeyID     string
	SecretAccessKey string
	// Principal is an ARN: arn:aws:iam::ACCOUNT:user/NAME.
	Principal string
}

// Credential builds an access key whose principal is the IAM user name of
// account.
func Credential(akid, secret, name, account string) AccessKey {
	return AccessKey{AccessKeyID: akid, SecretAccessKey: secret,
		Principal: "arn:aws:iam::" + account + ":user/" + name}
}

// ReadCredentialsFile reads access keys, one a line: ACCESS_KEY_ID
// SECRET_ACCESS_KEY [NAME]. Blank lines and lines starting with # are
// skipped. NAME (default "gantry") becomes the principal
// arn:aws:iam::ACCOUNT:user/NAME.
func ReadCredentialsFile(path, account string) ([]AccessKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AccessKey
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || len(fields) > 3 {
			return nil, fmt.Errorf("%s:%d: want ACCESS_KEY_ID SECRET_ACCESS_KEY [NAME]", path, n)
		}
		name := "gantry"
		if len(fields) == 3 {
			name = fields[2]
		}
		out = append(out, Credential(fields[0], fields[1], name, account))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}
