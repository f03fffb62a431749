package config

import (
	"strings"
	"testing"
)

// The embedded member's cluster flags: a good three-member setup passes,
// and each bad one is refused with a message naming the problem.
func TestEtcdMemberValidate(t *testing.T) {
	const three = "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380"
	tests := []struct {
		name string
		edit func(c *Server)
		want string // "" for valid
	}{
		{"single member default", func(c *Server) {}, ""},
		{"three members", func(c *Server) { c.EtcdMember.Name, c.EtcdMember.InitialCluster = "b", three }, ""},
		{"one member to grow from", func(c *Server) { c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", "a=http://10.0.0.1:2380" }, ""},
		{"joining", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster, c.EtcdMember.InitialClusterState = "d", three+",d=http://10.0.0.4:2380", "existing"
		}, ""},
		{"tls peers", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", strings.ReplaceAll(three, "http:", "https:")
			c.EtcdMember.PeerCert, c.EtcdMember.PeerKey, c.EtcdMember.PeerTrustedCA, c.EtcdMember.PeerClientCertAuth = "c.pem", "k.pem", "ca.pem", true
		}, ""},
		{"listen all, advertise mine", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", three
			c.EtcdMember.ListenPeerURLs, c.EtcdMember.AdvertisePeerURLs = []string{"http://0.0.0.0:2380"}, []string{"http://10.0.0.1:2380"}
			c.EtcdMember.ListenClientURLs = []string{"http://127.0.0.1:2379"}
		}, ""},
		{"this member not listed", func(c *Server) { c.EtcdMember.Name, c.EtcdMember.InitialCluster = "z", three }, "does not list this member"},
		{"no name", func(c *Server) { c.EtcdMember.InitialCluster = three }, "needs --etcd-name"},
		{"duplicate name", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", "a=http://10.0.0.1:2380,a=http://10.0.0.2:2380,c=http://10.0.0.3:2380"
		}, "listed twice"},
		{"same peer URL twice", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", "a=http://10.0.0.1:2380,b=http://10.0.0.1:2380,c=http://10.0.0.3:2380"
		}, "conflicting peer URLs"},
		{"advertise differs from the list", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster, c.EtcdMember.AdvertisePeerURLs = "a", three, []string{"http://10.0.0.9:2380"}
		}, "conflicting peer URLs"},
		{"two members", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380"
		}, "odd number"},
		{"four members", func(c *Server) { c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", three+",d=http://10.0.0.4:2380" }, "odd number"},
		{"joining alone", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster, c.EtcdMember.InitialClusterState = "a", "a=http://10.0.0.1:2380", "existing"
		}, "joins a running cluster"},
		{"bad state", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster, c.EtcdMember.InitialClusterState = "a", three, "old"
		}, "must be new or existing"},
		{"empty token", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster, c.EtcdMember.InitialClusterToken = "a", three, ""
		}, "token"},
		{"not a URL", func(c *Server) { c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", "a=10.0.0.1:2380" }, "not a peer URL"},
		{"not name=url", func(c *Server) { c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", "http://10.0.0.1:2380" }, "not name=peerURL"},
		{"https without cert", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", strings.ReplaceAll(three, "http:", "https:")
		}, "need --etcd-peer-cert"},
		{"cert on http", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster, c.EtcdMember.PeerCert, c.EtcdMember.PeerKey = "a", three, "c.pem", "k.pem"
		}, "need https peer URLs"},
		{"client cert auth without CA", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster = "a", strings.ReplaceAll(three, "http:", "https:")
			c.EtcdMember.PeerCert, c.EtcdMember.PeerKey, c.EtcdMember.PeerClientCertAuth = "c.pem", "k.pem", true
		}, "needs --etcd-peer-trusted-ca"},
		{"client URL off loopback", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster, c.EtcdMember.ListenClientURLs = "a", three, []string{"http://0.0.0.0:2379"}
		}, "loopback"},
		{"with external etcd", func(c *Server) {
			c.EtcdMember.Name, c.EtcdMember.InitialCluster, c.EtcdEndpoints = "a", three, []string{"http://10.0.0.9:2379"}
		}, "excludes --etcd-endpoints"},
		{"member flags without a cluster", func(c *Server) { c.EtcdMember.Name = "a" }, "need --etcd-initial-cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultServer()
			c.Credentials = append(c.Credentials, Credential("AKIDCONFIGTEST000000", "secret", "t", c.AccountID))
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}
