package apiserver_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// FuzzServe sends signed requests with arbitrary bodies to every operation
// of a real server (embedded etcd): each answer is a success or an error in
// AWS's form caused by the client, never a 5xx, a non-JSON body or a crash.
func FuzzServe(f *testing.F) {
	env := apitest.Start(f, apitest.Options{})
	var ops []string
	for op := range ecsapi.Operations() {
		ops = append(ops, op)
	}
	for op := range ecsapi.ExtensionOperations() {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	seeds := []string{
		`{}`, `{"clusterName":"fuzz"}`, `{"family":"f","containerDefinitions":[{"name":"a","image":"b","memory":4}]}`,
		`{"cluster":"fuzz","taskDefinition":"f","count":2}`, `{"cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/x"}`,
		`{"maxResults":0}`, `{"nextToken":"!!!"}`, `{"tasks":["a/b/c"]}`, `{"resourceArn":"arn:aws:ecs:us-east-1:1:task/x"}`,
		`{"containerInstance":"nope","revision":5,"waitSeconds":1}`, `{"include":["NOPE"]}`, `null`, `[1]`, `{"a":`,
		`{"filter":"attribute:x =~ (("}`, `{"task":"arn:aws:ecs:us-east-1:123456789012:task/default/1","status":"RUNNING"}`,
	}
	for i, s := range seeds {
		f.Add(uint16(i*5), []byte(s))
	}
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey}
	client := &http.Client{Timeout: 30 * time.Second}
	f.Fuzz(func(t *testing.T, pick uint16, body []byte) {
		op := ops[int(pick)%len(ops)]
		if op == "GantryPollTasks" {
			// A valid poll may wait; bound it by giving no revision.
			var m map[string]any
			if json.Unmarshal(body, &m) == nil {
				delete(m, "revision")
				body, _ = json.Marshal(m)
			}
		}
		req, _ := http.NewRequest("POST", env.URL+"/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", ecsapi.TargetPrefix+"."+op)
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", apitest.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %q: %v", op, body, err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %q: HTTP %d %s", op, body, resp.StatusCode, data)
		}
		var e map[string]any
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("%s %q: answer is not JSON: %s", op, body, data)
		}
		if resp.StatusCode != 200 && e["__type"] == nil {
			t.Fatalf("%s %q: error without __type: %s", op, body, data)
		}
	})
}
