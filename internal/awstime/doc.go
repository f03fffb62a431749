// Package awstime holds Timestamp, the time type of every generated AWS wire
// shape. Each protocol writes it its own way (epoch seconds in JSON and CBOR,
// ISO 8601 in XML); the JSON form is implemented here, the others by the
// protocol layer. It imports nothing of Gantry's, so the agent may link it.
package awstime
