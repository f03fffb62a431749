package apiserver

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
)

func TestDecodeContent(t *testing.T) {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write([]byte("Action=PutMetricData"))
	_ = zw.Close()
	req := func(enc string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		if enc != "" {
			r.Header.Set("Content-Encoding", enc)
		}
		return r
	}
	if got, err := decodeContent(req("gzip"), zb.Bytes()); err != nil || string(got) != "Action=PutMetricData" {
		t.Fatalf("gzip: %q %v", got, err)
	}
	if got, err := decodeContent(req(""), []byte("plain")); err != nil || string(got) != "plain" {
		t.Fatalf("none: %q %v", got, err)
	}
	if got, err := decodeContent(req("identity"), []byte("plain")); err != nil || string(got) != "plain" {
		t.Fatalf("identity: %q %v", got, err)
	}
	_, err := decodeContent(req("gzip"), []byte("not gzip"))
	if e, ok := apierror.As(err); !ok || e.Code != apierror.CodeSerialization || e.HTTPStatus() != http.StatusBadRequest {
		t.Fatalf("bad gzip: %v", err)
	}
	// A bomb: more than MaxBodyBytes once decompressed.
	zb.Reset()
	zw = gzip.NewWriter(&zb)
	_, _ = zw.Write(make([]byte, MaxBodyBytes+1))
	_ = zw.Close()
	_, err = decodeContent(req("gzip"), zb.Bytes())
	if e, ok := apierror.As(err); !ok || e.Code != apierror.CodeRequestEntityTooLarge {
		t.Fatalf("bomb: %v", err)
	}
}
