package ecsapi

// GantryDiscoverPollEndpointsRequest asks, as DiscoverPollEndpoint does, where
// an agent reaches the control plane, but for every live server: ECS's
// DiscoverPollEndpointResponse has room for one endpoint only.
type GantryDiscoverPollEndpointsRequest struct {
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance,omitempty"`
}

// GantryDiscoverPollEndpointsResponse lists the advertised URLs of the
// servers of the control plane that are live now (each keeps its URL in the
// store on a lease), Endpoint first: the one DiscoverPollEndpoint answers.
type GantryDiscoverPollEndpointsResponse struct {
	Endpoint  string   `json:"endpoint"`
	Endpoints []string `json:"endpoints"`
}
