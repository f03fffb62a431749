package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	"encoding/json"
	"errors"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/apitest"
)

func TestUnsignedRequestIsRefused(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	req, _ := http.NewRequest("POST", env.URL+"/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if resp.StatusCode != 400 || e.Type != "MissingAuthenticationTokenException" || resp.Header.Get("X-Amzn-ErrorType") != e.Type {
		t.Fatalf("got %d %s %+v", resp.StatusCode, body, resp.Header)
	}
}

func TestWrongSecretIsRefused(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := apitest.NewClientWith(env.URL, apitest.AccessKeyID, "not-the-secret")
	_, err := c.ListClusters(context.Background(), &ecs.ListClustersInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("want InvalidSignatureException, got %v", err)
	}
	c = apitest.NewClientWith(env.URL, "AKIDUNKNOWN", "x")
	_, err = c.ListClusters(context.Background(), &ecs.ListClustersInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" {
		t.Fatalf("want UnrecognizedClientException, got %v", err)
	}
}

// signedPost sends body to op, signed with the test credentials.
func signedPost(t *testing.T, url, op string, body []byte) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+op)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", apitest.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(data, &e)
	return resp.StatusCode, e.Type, e.Message
}

func TestProtocolErrors(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	tests := []struct {
		name, op string
		body     []byte
		status   int
		code     string
	}{
		{"unknown operation", "DanceTheTango", []byte(`{}`), 400, "UnknownOperationException"},
		{"malformed JSON", "CreateCluster", []byte(`{"clusterName":`), 400, "SerializationException"},
		{"wrong type", "CreateCluster", []byte(`{"clusterName":42}`), 400, "SerializationException"},
		{"wrong type nested", "RegisterTaskDefinition", []byte(`{"family":"f","containerDefinitions":[{"name":"a","image":"b","memory":"lots"}]}`), 400, "SerializationException"},
		{"missing required member", "RegisterTaskDefinition", []byte(`{"family":"f"}`), 400, "InvalidParameterException"},
		{"too large", "CreateCluster", append(append([]byte(`{"clusterName":"`), bytes.Repeat([]byte("x"), 9<<20)...), '"', '}'), 413, "RequestEntityTooLargeException"},
		{"empty body is an empty request", "ListClusters", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, msg := signedPost(t, env.URL, tt.op, tt.body)
			if status != tt.status || code != tt.code {
				t.Fatalf("got %d %s %q, want %d %s", status, code, msg, tt.status, tt.code)
			}
		})
	}
	// The SDK decodes these into its typed exceptions.
	_, err := env.Client.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{Family: aws.String("f"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a")}}})
	var ce *types.ClientException
	var ip *types.InvalidParameterException
	if !errors.As(err, &ce) && !errors.As(err, &ip) {
		t.Fatalf("want a typed ECS exception, got %T %v", err, err)
	}
}

// TestTooLargeBodyIsAnswered: a client that sends a body over the limit in
// full before it reads (as urllib3, under the aws CLI, does) reads the
// RequestEntityTooLargeException answer instead of a reset connection,
// with a Content-Length and with a chunked body.
func TestTooLargeBodyIsAnswered(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	addr := strings.TrimPrefix(env.URL, "http://")
	body := append(append([]byte(`{"clusterName":"`), bytes.Repeat([]byte("x"), 12<<20)...), '"', '}')
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var head bytes.Buffer
			fmt.Fprintf(&head, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.CreateCluster\r\n", addr)
			if chunked {
				head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
			} else {
				fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", len(body))
			}
			if _, err := conn.Write(head.Bytes()); err != nil {
				t.Fatal(err)
			}
			// Send it all, then read: a reset on either side fails.
			if chunked {
				for off := 0; off < len(body); off += 1 << 20 {
					part := body[off:min(off+1<<20, len(body))]
					if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", len(part), part); err != nil {
						t.Fatalf("write body: %v", err)
					}
				}
				_, err = io.WriteString(conn, "0\r\n\r\n")
			} else {
				_, err = conn.Write(body)
			}
			if err != nil {
				t.Fatalf("write body: %v", err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read answer: %v", err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 413 || resp.Header.Get("X-Amzn-ErrorType") != "RequestEntityTooLargeException" ||
				!strings.Contains(string(data), "RequestEntityTooLargeException") {
				t.Fatalf("answer %d %v %s: %v", resp.StatusCode, resp.Header, data, err)
			}
		})
	}
}
