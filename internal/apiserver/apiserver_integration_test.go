package apiserver_test

import (
	"context"
	"encoding/json"
	"errors"
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
