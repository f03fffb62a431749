// Package awsproto owns the AWS wire protocols Gantry serves: awsJson 1.0
// and 1.1 (X-Amz-Target), the query protocol (form-encoded Action=...&
// Version=... in, XML out) and Smithy RPC v2 CBOR. It recognises which one a
// request speaks (Detect), decodes a request into the input struct of an
// operation (Decode), checks the members the model marks required
// (CheckRequired), and writes an output (WriteOutput) or an
// *apierror.Error (WriteError) the way AWS writes them for that protocol.
//
// It works by reflection over the struct tags of the generated shape
// packages (see WIRE-CONTRACT: json name and omitempty/omitzero, required,
// locationName, xmlMember, flattened, xmlKey/xmlValue, timestampFormat);
// the per-type plans are computed once and cached. The timestamp type is
// awstime.Timestamp. It knows nothing of any one service: a Service value
// carries what the protocols need (namespace, target prefix, versions,
// error codes).
package awsproto
