package apiserver

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
)

// decodeContent undoes the request's Content-Encoding: the AWS SDKs gzip
// the bodies of operations with the requestCompression trait (CloudWatch's
// PutMetricData) and say so in Content-Encoding. The signature covers the
// body as sent; the operation reads it decoded. Encodings other than gzip
// (none in AWS's models) are left as they are.
func decodeContent(r *http.Request, body []byte) ([]byte, error) {
	enc := r.Header.Get("Content-Encoding")
	if enc == "" {
		return body, nil
	}
	out := body
	for _, e := range strings.Split(enc, ",") {
		if !strings.EqualFold(strings.TrimSpace(e), "gzip") {
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(out))
		if err != nil {
			return nil, apierror.Serialization("The request body is not valid gzip: %v", err)
		}
		dec, err := io.ReadAll(io.LimitReader(zr, MaxBodyBytes+1))
		if err != nil {
			return nil, apierror.Serialization("The request body is not valid gzip: %v", err)
		}
		if len(dec) > MaxBodyBytes {
			return nil, &apierror.Error{Code: apierror.CodeRequestEntityTooLarge, Status: http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("Decompressed request body is larger than the limit of %d bytes.", MaxBodyBytes)}
		}
		out = dec
	}
	return out, nil
}
