package awsproto

import "github.com/gantry-dev/gantry/internal/awstime"

// Hand-written shapes that follow the wire contract's tags, standing in for
// the generated packages.

type testState string

type testTag struct {
	Key   *string `json:"Key,omitempty" required:"true"`
	Value string  `json:"Value"` // the model allows "": always written
}

type testListener struct {
	Port     *int32    `json:"Port,omitempty"`
	Protocol testState `json:"Protocol,omitempty"`
	Weights  []float64 `json:"Weights,omitzero"`
}

type testInput struct {
	Name        *string            `json:"Name,omitempty" required:"true"`
	Names       []string           `json:"Names,omitzero"`
	Flat        []string           `json:"Flat,omitzero" flattened:"true"`
	Custom      []string           `json:"Custom,omitzero" xmlMember:"item"`
	Tags        []testTag          `json:"Tags,omitzero"`
	Listener    *testListener      `json:"Listener,omitempty"`
	Attributes  map[string]string  `json:"Attributes,omitzero"`
	Nested      map[string][]int64 `json:"Nested,omitzero" xmlKey:"Name" xmlValue:"Values"`
	Enabled     *bool              `json:"Enabled,omitempty"`
	Count       *int64             `json:"Count,omitempty"`
	Ratio       *float64           `json:"Ratio,omitempty"`
	At          *awstime.Timestamp `json:"At,omitempty"`
	Blob        []byte             `json:"Blob,omitempty"`
	Location    *string            `json:"Loc,omitempty" locationName:"LocationName"`
	State       testState          `json:"State,omitempty"`
	Lists       [][]string         `json:"Lists,omitzero"`
	Recursive   *testInput         `json:"Recursive,omitempty"`
	Unboxed     int32              `json:"unboxed"`
	Description string             `json:"Description,omitempty"`
}

type testOutput struct {
	Items      []testTag          `json:"Items,omitzero"`
	Empty      []string           `json:"Empty,omitzero"`
	Absent     []string           `json:"Absent,omitzero"`
	Value      string             `json:"Value"`
	Maybe      string             `json:"Maybe,omitempty"`
	Created    *awstime.Timestamp `json:"Created,omitempty"`
	Epoch      *awstime.Timestamp `json:"Epoch,omitempty" timestampFormat:"unixTimestamp"`
	Ok         *bool              `json:"Ok,omitempty"`
	Size       *int64             `json:"Size,omitempty"`
	Data       []byte             `json:"Data,omitempty"`
	Attributes map[string]string  `json:"Attributes,omitzero"`
	Flat       []string           `json:"Flat,omitzero" flattened:"true" xmlMember:"Entry"`
	Ratio      *float64           `json:"Ratio,omitempty"`
}
