package cloudwatch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gantry-dev/gantry/internal/apitest"
)

// TestMalformedRequests: bodies that do not parse, and members of the
// wrong type, get a 400 with the protocol's error in every protocol,
// never a 500.
func TestMalformedRequests(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey}
	send := func(path string, header map[string]string, body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, env.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "monitoring", apitest.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Amzn-Query-Error") + " " + string(b)
	}
	jsonH := map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"}
	cborH := map[string]string{"Content-Type": "application/cbor", "Smithy-Protocol": "rpc-v2-cbor", "Accept": "application/cbor"}
	cborPath := "/service/GraniteServiceVersion20100801/operation/PutMetricData"
	queryH := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	tests := []struct {
		name   string
		path   string
		header map[string]string
		body   string
		want   string
	}{
		{"json not json", "/", jsonH, "{not json", "SerializationException"},
		{"json wrong type", "/", jsonH, `{"Namespace":"x","MetricData":[{"MetricName":"m","Value":"high"}]}`, "SerializationException"},
		{"json bad value", "/", jsonH, `{"Namespace":"x","MetricData":[{"MetricName":"m","Value":1,"StorageResolution":7}]}`, "InvalidParameterValue"},
		{"cbor not cbor", cborPath, cborH, "\xff\x00\x01", "SerializationException"},
		{"query wrong type", "/", queryH, "Action=PutMetricData&Version=2010-08-01&Namespace=x&MetricData.member.1.MetricName=m&MetricData.member.1.Value=abc", "<Type>Sender</Type>"},
		{"query missing data", "/", queryH, "Action=PutMetricData&Version=2010-08-01&Namespace=x", "<Code>MissingParameter</Code>"},
		{"query bad dimension", "/", queryH, "Action=GetMetricStatistics&Version=2010-08-01&Namespace=x&MetricName=m&Period=60&StartTime=2026-01-01T00:00:00Z&EndTime=2026-01-01T01:00:00Z&Statistics.member.1=Sum&Dimensions.member.1.Name=a", "<Type>Sender</Type>"},
	}
	for _, tt := range tests {
		status, body := send(tt.path, tt.header, []byte(tt.body))
		t.Logf("%s: %d %.200s", tt.name, status, body)
		if status < 400 || status >= 500 || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s", tt.name, status, body)
		}
	}
	// An operation the model gives no output answers, in query, a
	// response with ResponseMetadata and no result element, as AWS
	// writes it (an empty PutMetricDataResult made the CLI print "None").
	status, body := send("/", queryH, []byte("Action=PutMetricData&Version=2010-08-01&Namespace=x&MetricData.member.1.MetricName=m&MetricData.member.1.Value=1"))
	if status != http.StatusOK || strings.Contains(body, "PutMetricDataResult") || !strings.Contains(body, "<ResponseMetadata><RequestId>") {
		t.Errorf("query PutMetricData: %d %s", status, body)
	}
}
