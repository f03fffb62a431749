package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// model is the part of a botocore service-2.json the generator reads.
type model struct {
	Metadata   metadata             `json:"metadata"`
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]*shape    `json:"shapes"`
}

type metadata struct {
	APIVersion     string   `json:"apiVersion"`
	EndpointPrefix string   `json:"endpointPrefix"`
	JSONVersion    string   `json:"jsonVersion"`
	Protocol       string   `json:"protocol"`
	Protocols      []string `json:"protocols"`
	ServiceID      string   `json:"serviceId"`
	SigningName    string   `json:"signingName"`
	TargetPrefix   string   `json:"targetPrefix"`
	XMLNamespace   string   `json:"xmlNamespace"`
}

type operation struct {
	Name   string `json:"name"`
	Input  *ref   `json:"input"`
	Output *ref   `json:"output"`
}

// ref is a reference to a shape: a structure member, a list's member, a
// map's key or value, an operation's input or output.
type ref struct {
	Shape           string `json:"shape"`
	LocationName    string `json:"locationName"`
	QueryName       string `json:"queryName"`
	Flattened       bool   `json:"flattened"`
	TimestampFormat string `json:"timestampFormat"`
	Box             bool   `json:"box"`
	ResultWrapper   string `json:"resultWrapper"`
	// Traits the RPC protocols cannot serve; the generator refuses them.
	Location     string `json:"location"`
	XMLAttribute bool   `json:"xmlAttribute"`
	JSONValue    bool   `json:"jsonvalue"`
}

type errorTrait struct {
	Code           string `json:"code"`
	HTTPStatusCode int    `json:"httpStatusCode"`
	SenderFault    *bool  `json:"senderFault"`
}

type shape struct {
	Type            string      `json:"type"`
	Members         members     `json:"members"`
	Required        []string    `json:"required"`
	Member          *ref        `json:"member"`
	Key             *ref        `json:"key"`
	Value           *ref        `json:"value"`
	Enum            []string    `json:"enum"`
	Box             bool        `json:"box"`
	Exception       bool        `json:"exception"`
	Fault           bool        `json:"fault"`
	Error           *errorTrait `json:"error"`
	Min             *float64    `json:"min"`
	Flattened       bool        `json:"flattened"`
	TimestampFormat string      `json:"timestampFormat"`
	Documentation   string      `json:"documentation"`
	EventStream     bool        `json:"eventstream"`
	XMLOrder        []string    `json:"xmlOrder"`
}

// members keeps a structure's members in the model's order (the order AWS
// writes them in XML).
type members struct {
	names []string
	refs  map[string]*ref
}

func (ms *members) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("members: want an object")
	}
	ms.refs = map[string]*ref{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("members: %w", err)
		}
		name, _ := t.(string)
		var r ref
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("member %s: %w", name, err)
		}
		if _, dup := ms.refs[name]; dup {
			return fmt.Errorf("member %s twice", name)
		}
		ms.names = append(ms.names, name)
		ms.refs[name] = &r
	}
	return nil
}

// loadModel reads a service-2.json, gzipped when its name ends in .gz.
func loadModel(path string) (*model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if bytes.HasSuffix([]byte(path), []byte(".gz")) {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gz
	}
	var m model
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &m, nil
}
