package config

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	// PolicyFile, when set, names the IAM policy document that bounds what
	// the key may do, and Policy holds its bytes (the server parses it at
	// start). A key without one is an administrator.
	PolicyFile string
	Policy     []byte
	// Source is where the key was read ("creds.txt:3"), for errors.
	Source string
}

// Credential builds an access key whose principal is the IAM user name of
// account.
func Credential(akid, secret, name, account string) AccessKey {
	return AccessKey{AccessKeyID: akid, SecretAccessKey: secret,
		Principal: "arn:aws:iam::" + account + ":user/" + name}
}

// ReadCredentialsFile reads access keys, one a line: ACCESS_KEY_ID
// SECRET_ACCESS_KEY [NAME [POLICY_FILE]]. Blank lines and lines starting
// with # are skipped. NAME (default "gantry") becomes the principal
// arn:aws:iam::ACCOUNT:user/NAME. POLICY_FILE, relative to the credentials
// file's directory unless absolute, holds the key's IAM policy document;
// its bytes are read here and parsed by the server. A line that does not
// fit, a duplicated access key ID or an unreadable policy file is an error
// naming the file and line.
func ReadCredentialsFile(path, account string) ([]AccessKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AccessKey
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || len(fields) > 4 {
			return nil, fmt.Errorf("%s:%d: want ACCESS_KEY_ID SECRET_ACCESS_KEY [NAME [POLICY_FILE]], got %d fields", path, n, len(fields))
		}
		if prev, dup := seen[fields[0]]; dup {
			return nil, fmt.Errorf("%s:%d: access key ID %s is already defined on line %d", path, n, fields[0], prev)
		}
		seen[fields[0]] = n
		name := "gantry"
		if len(fields) >= 3 {
			name = fields[2]
			if !userNameRE.MatchString(name) {
				return nil, fmt.Errorf("%s:%d: NAME %q is not an IAM user name (1-64 of A-Z a-z 0-9 + = , . @ _ -)", path, n, name)
			}
		}
		k := Credential(fields[0], fields[1], name, account)
		k.Source = fmt.Sprintf("%s:%d", path, n)
		if len(fields) == 4 {
			pf := fields[3]
			if !filepath.IsAbs(pf) {
				pf = filepath.Join(filepath.Dir(path), pf)
			}
			doc, err := os.ReadFile(pf)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: policy file: %w", path, n, err)
			}
			k.PolicyFile, k.Policy = pf, doc
		}
		out = append(out, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// userNameRE is IAM's user name pattern.
var userNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
