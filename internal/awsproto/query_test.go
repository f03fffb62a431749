package awsproto

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awsop"
	"github.com/gantry-dev/gantry/internal/awstime"
)

var querySvc = &Service{SigningName: "elasticloadbalancing", APIVersion: "2015-12-01",
	XMLNamespace: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/", Protocols: []string{"query"},
	Errors: map[string]awsop.ErrorInfo{"LoadBalancerNotFoundException": {Shape: "LoadBalancerNotFoundException", Code: "LoadBalancerNotFound", HTTPStatus: 400, Sender: true}}}

func decodeForm(t *testing.T, form string) (*testInput, *apierror.Error) {
	t.Helper()
	vals, err := url.ParseQuery(form)
	if err != nil {
		t.Fatal(err)
	}
	var in testInput
	aerr := Decode(&Request{Protocol: Query, Form: vals}, querySvc, nil, &in)
	return &in, aerr
}

func TestQueryDecode(t *testing.T) {
	in, err := decodeForm(t, strings.Join([]string{
		"Action=Op", "Version=2015-12-01", "Name=web",
		"Names.member.1=a", "Names.member.2=b",
		"Flat.1=x", "Flat.2=y",
		"Custom.item.1=c",
		"Tags.member.1.Key=k1", "Tags.member.1.Value=", "Tags.member.2.Key=k2", "Tags.member.2.Value=v2",
		"Listener.Port=80", "Listener.Protocol=HTTP", "Listener.Weights.member.1=0.5",
		"Attributes.entry.1.key=idle", "Attributes.entry.1.value=60", "Attributes.entry.2.key=x", "Attributes.entry.2.value=",
		"Nested.entry.1.Name=n", "Nested.entry.1.Values.member.1=7",
		"Enabled=true", "Count=9000000000", "Ratio=1.5", "At=2024-01-02T03:04:05.678Z", "Blob=AAE%3D",
		"LocationName=loc", "State=active", "Lists.member.1.member.1=deep", "Recursive.Name=inner", "Recursive.Names=",
		"unboxed=3", "Unknown=ignored",
	}, "&"))
	if err != nil {
		t.Fatal(err)
	}
	at := awstime.Timestamp{Time: time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)}
	want := &testInput{
		Name: ptr("web"), Names: []string{"a", "b"}, Flat: []string{"x", "y"}, Custom: []string{"c"},
		Tags:       []testTag{{Key: ptr("k1"), Value: ""}, {Key: ptr("k2"), Value: "v2"}},
		Listener:   &testListener{Port: ptr(int32(80)), Protocol: "HTTP", Weights: []float64{0.5}},
		Attributes: map[string]string{"idle": "60", "x": ""}, Nested: map[string][]int64{"n": {7}},
		Enabled: ptr(true), Count: ptr(int64(9000000000)), Ratio: ptr(1.5), At: &at, Blob: []byte{0, 1},
		Location: ptr("loc"), State: "active", Lists: [][]string{{"deep"}},
		Recursive: &testInput{Name: ptr("inner"), Names: []string{}}, Unboxed: 3,
	}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("got  %+v\nwant %+v", in, want)
	}
	if in.Recursive.Names == nil {
		t.Fatal("Name= must decode to an empty, non-nil list")
	}
}

func TestQueryDecodeErrors(t *testing.T) {
	tests := []struct {
		name, form, code, msg string
	}{
		{"bad integer", "Name=a&Listener.Port=eighty", "ValidationError", "Value 'eighty' at 'listener.port' failed to satisfy constraint"},
		{"integer out of range", "Name=a&Listener.Port=99999999999", "ValidationError", "at 'listener.port'"},
		{"bad boolean", "Name=a&Enabled=yes", "ValidationError", "at 'enabled'"},
		{"bad timestamp", "Name=a&At=yesterday", "ValidationError", "at 'at'"},
		{"bad blob", "Name=a&Blob=!!", "ValidationError", "at 'blob'"},
		{"bad number in a list", "Name=a&Listener.Weights.member.1=x", "ValidationError", "at 'listener.weights.1'"},
		{"missing required", "Names.member.1=a", "ValidationError", "Value null at 'name'"},
		{"missing required in a list", "Name=a&Tags.member.1.Value=v", "ValidationError", "Value null at 'tags.1.key'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeForm(t, tt.form)
			if err == nil || err.Code != tt.code || !strings.Contains(err.Message, tt.msg) {
				t.Fatalf("got %v, want %s %q", err, tt.code, tt.msg)
			}
		})
	}
}

func TestQueryOutput(t *testing.T) {
	out := &testOutput{
		Items: []testTag{{Key: ptr("a<&>"), Value: ""}}, Empty: []string{}, Value: "",
		Created: awstime.NewTimestamp(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)),
		Epoch:   awstime.NewTimestamp(time.UnixMilli(1700000000500)),
		Ok:      ptr(false), Size: ptr(int64(42)), Data: []byte{0, 1}, Attributes: map[string]string{"b": "2", "a": "1"},
		Flat: []string{"x", "y"}, Ratio: ptr(0.25),
	}
	rec := httptest.NewRecorder()
	if err := WriteOutput(rec, &Request{Protocol: Query}, querySvc, "DescribeThings", "DescribeThingsResult", "rid", out); err != nil {
		t.Fatal(err)
	}
	want := `<DescribeThingsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeThingsResult>` +
		`<Items><member><Key>a&lt;&amp;&gt;</Key><Value></Value></member></Items><Empty/><Value></Value>` +
		`<Created>2024-01-02T03:04:05.000Z</Created><Epoch>1700000000.5</Epoch><Ok>false</Ok><Size>42</Size><Data>AAE=</Data>` +
		`<Attributes><entry><key>a</key><value>1</value></entry><entry><key>b</key><value>2</value></entry></Attributes>` +
		`<Entry>x</Entry><Entry>y</Entry><Ratio>0.25</Ratio>` +
		`</DescribeThingsResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DescribeThingsResponse>`
	if rec.Body.String() != want {
		t.Fatalf("got  %s\nwant %s", rec.Body, want)
	}
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/xml" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	// Well-formed XML.
	if err := xml.Unmarshal(rec.Body.Bytes(), new(struct{})); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	_ = WriteOutput(rec, &Request{Protocol: Query}, querySvc, "DeleteThing", "", "rid", nil)
	want = `<DeleteThingResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DeleteThingResponse>`
	if rec.Body.String() != want {
		t.Fatalf("no output: got %s", rec.Body)
	}
}

func TestQueryError(t *testing.T) {
	tests := []struct {
		name   string
		err    *apierror.Error
		status int
		body   string
	}{
		{"modelled, by shape name", apierror.New("LoadBalancerNotFoundException", "One or more load balancers not found"), 400,
			`<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code><Message>One or more load balancers not found</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
		{"unknown action", UnknownOperation(Query, "Dance", "2015-12-01"), 400,
			`<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>Could not find operation Dance for version 2015-12-01</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
		{"server fault", apierror.Server(), 500,
			`<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>Service encountered an unexpected error. Please try again.</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
		{"bad signature", apierror.New(apierror.CodeInvalidSignature, "x"), http.StatusForbidden,
			`<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error><RequestId>rid</RequestId></ErrorResponse>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, Query, querySvc, "rid", tt.err)
			if rec.Code != tt.status || rec.Body.String() != tt.body || rec.Header().Get("Content-Type") != "text/xml" {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name, method, url, ct, target, proto, body string
		want                                       Request
		code                                       string
	}{
		{name: "json 1.1", method: "POST", url: "/", ct: ContentTypeJSON11, target: "Logs_20140328.PutLogEvents",
			want: Request{Protocol: JSON11, Target: "Logs_20140328", Operation: "PutLogEvents"}},
		{name: "json 1.0", method: "POST", url: "/", ct: ContentTypeJSON10 + "; charset=utf-8", target: "Granite.GetMetricData",
			want: Request{Protocol: JSON10, Target: "Granite", Operation: "GetMetricData"}},
		{name: "cbor", method: "POST", url: "/service/GraniteServiceVersion20100801/operation/GetMetricData", ct: ContentTypeCBOR, proto: "rpc-v2-cbor",
			want: Request{Protocol: CBOR, Target: "GraniteServiceVersion20100801", Operation: "GetMetricData"}},
		{name: "cbor with a prefix and an absolute service ID", method: "POST", url: "/v1/service/com.amazonaws.cloudwatch.GraniteServiceVersion20100801/operation/ListMetrics", proto: "rpc-v2-cbor",
			want: Request{Protocol: CBOR, Target: "GraniteServiceVersion20100801", Operation: "ListMetrics"}},
		{name: "cbor bad path", method: "POST", url: "/nope", proto: "rpc-v2-cbor", want: Request{Protocol: CBOR}, code: "UnknownOperationException"},
		{name: "query post", method: "POST", url: "/", ct: ContentTypeForm, body: "Action=DescribeLoadBalancers&Version=2015-12-01",
			want: Request{Protocol: Query, Operation: "DescribeLoadBalancers", Version: "2015-12-01"}},
		{name: "query get", method: "GET", url: "/?Action=ListMetrics&Version=2010-08-01",
			want: Request{Protocol: Query, Operation: "ListMetrics", Version: "2010-08-01"}},
		{name: "query without action", method: "POST", url: "/", ct: ContentTypeForm, body: "Version=2015-12-01",
			want: Request{Protocol: Query, Version: "2015-12-01"}, code: "MissingAction"},
		{name: "query malformed", method: "POST", url: "/", ct: ContentTypeForm, body: "Action=%zz",
			want: Request{Protocol: Query}, code: "MalformedQueryString"},
		{name: "nothing", method: "POST", url: "/", ct: "text/plain", code: "UnknownOperationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			if tt.target != "" {
				r.Header.Set("X-Amz-Target", tt.target)
			}
			if tt.proto != "" {
				r.Header.Set("Smithy-Protocol", tt.proto)
			}
			got, err := Detect(r, []byte(tt.body))
			got.Form = nil
			if tt.code == "" && err != nil || tt.code != "" && (err == nil || err.Code != tt.code) {
				t.Fatalf("error %v, want %q", err, tt.code)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
