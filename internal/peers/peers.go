// Package peers lets a server ask the other live servers of the control
// plane to answer part of a read from their local stores (log events,
// datapoints): the query fan-out of docs/architecture.md, "Several
// servers: any server answers log and metric queries".
//
// A request is an HTTP POST of JSON to Prefix+op on a peer's advertised
// URL, signed with HMAC-SHA256 under a key only servers hold (Key, kept in
// etcd, which agents and API clients cannot read). A peer answers from its
// local store only; it never fans out again.
package peers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// Prefix is the URL path under which a server answers its peers.
const Prefix = "/gantry-peer/"

// DefaultTimeout is how long a peer has to answer before it is left out.
const DefaultTimeout = 2 * time.Second

// maxSkew bounds the difference between a request's time and the
// answering server's clock.
const maxSkew = 5 * time.Minute

// maxBody bounds a peer request's body.
const maxBody = 1 << 20

const (
	headerTime      = "X-Gantry-Peer-Time"
	headerSignature = "X-Gantry-Peer-Signature"
)

// keyName is the etcd key of the peer key.
var keyName = store.Key("peers", "key")

// Key returns the cluster's peer key: 32 random bytes created by the first
// server that asks and read by the others.
func Key(ctx context.Context, st *store.Store) ([]byte, error) {
	var key []byte
	if _, err := st.Get(ctx, keyName, &key); err == nil {
		return key, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read the peer key: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := st.Create(ctx, keyName, key); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("create the peer key: %w", err)
	}
	// Another server may have won the race: use what is stored.
	if _, err := st.Get(ctx, keyName, &key); err != nil {
		return nil, fmt.Errorf("read the peer key: %w", err)
	}
	return key, nil
}

// sign is the signature of a request for op at unix time t with body.
func sign(key []byte, op, t string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(op))
	m.Write([]byte{'\n'})
	m.Write([]byte(t))
	m.Write([]byte{'\n'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Handler answers one operation: body is the request's JSON; the answer
// is encoded as JSON, except a Raw answer, sent as it is.
type Handler func(ctx context.Context, body []byte) (any, error)

// Raw is an answer a Handler has encoded itself (a binary encoding where
// JSON would cost more than the work): the peer's Answer.Body is these
// bytes.
type Raw []byte

// Server answers the signed requests of the other servers.
type Server struct {
	key    []byte
	logger *slog.Logger
	now    func() time.Time
	ops    map[string]Handler
}

// NewServer returns a Server verifying requests with key.
func NewServer(key []byte, logger *slog.Logger) *Server {
	return &Server{key: key, logger: logger, now: time.Now, ops: map[string]Handler{}}
}

// Handle registers h as the answer to op. It is not safe to call once
// the Server serves.
func (s *Server) Handle(op string, h Handler) { s.ops[op] = h }

// ServeHTTP answers a request under Prefix: 403 unless it is signed with
// the peer key within maxSkew of now, 404 for an unknown operation, 500
// when the operation fails.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.URL.Path[len(Prefix):]
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "bad request body", http.StatusBadRequest)
		return
	}
	t := r.Header.Get(headerTime)
	sec, err := strconv.ParseInt(t, 10, 64)
	want := sign(s.key, op, t, body)
	if err != nil || !hmac.Equal([]byte(want), []byte(r.Header.Get(headerSignature))) ||
		s.now().Sub(time.Unix(sec, 0)).Abs() > maxSkew {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	h, ok := s.ops[op]
	if !ok {
		http.Error(w, "unknown peer operation", http.StatusNotFound)
		return
	}
	out, err := h(r.Context(), body)
	if err != nil {
		s.logger.Warn("answer a peer", "op", op, "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if raw, ok := out.(Raw); ok {
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := w.Write(raw); err != nil {
			s.logger.Debug("write a peer answer", "op", op, "err", err)
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		s.logger.Debug("write a peer answer", "op", op, "err", err)
	}
}

// Client asks the other live servers.
type Client struct {
	// Self is this server's advertised URL: it is not asked.
	Self string
	// Key signs the requests.
	Key []byte
	// Live lists the advertised URLs of the live servers.
	Live func(ctx context.Context) ([]string, error)
	// HTTP makes the requests; nil is http.DefaultClient.
	HTTP *http.Client
	// Timeout bounds each peer's answer; 0 is DefaultTimeout.
	Timeout time.Duration
	// Logger receives the peers left out of an answer.
	Logger *slog.Logger
}

// Answer is one peer's answer to Ask.
type Answer struct {
	// URL is the peer's advertised URL.
	URL string
	// Body is its JSON answer (or the bytes of a Raw one).
	Body []byte
}

// Ask posts in (as JSON) to op on every live server but Self, in parallel,
// and returns the answers of those that answered within the timeout, in
// the order of their URLs. A peer that fails is logged and left out: the
// answer is then partial; so are all when the live set cannot be read.
// Ask fails only when in cannot be encoded.
func (c *Client) Ask(ctx context.Context, op string, in any) ([]Answer, error) {
	live, err := c.Live(ctx)
	if err != nil {
		// etcd unreachable: answer from this server alone rather than
		// not at all (the local store does not need etcd).
		c.Logger.Warn("the peers are left out of an answer: the live set cannot be read", "op", op, "err", err)
		return nil, nil
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var others []string
	for _, u := range live {
		if u != c.Self {
			others = append(others, u)
		}
	}
	answers := make([]*Answer, len(others))
	var wg sync.WaitGroup
	for i, u := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := c.post(ctx, u, op, body)
			if err != nil {
				c.Logger.Warn("a peer is left out of an answer", "peer", u, "op", op, "err", err)
				return
			}
			answers[i] = &Answer{URL: u, Body: b}
		}()
	}
	wg.Wait()
	out := make([]Answer, 0, len(answers))
	for _, a := range answers {
		if a != nil {
			out = append(out, *a)
		}
	}
	return out, nil
}

// Post posts in (as JSON) to op on the server at url alone and returns
// its JSON answer. Processes that hold the key without being a server (a
// dedicated load balancer data plane) hand data to a server this way.
func (c *Client) Post(ctx context.Context, url, op string, in any) ([]byte, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	return c.post(ctx, url, op, body)
}

// AskFirst posts in to op on every live server but Self, in parallel,
// each given up to timeout to answer (a long poll: the peer holds the
// request until it has something to say), and returns as soon as one
// answers, cancelling the others. ok is false when none answered before
// the timeout or ctx ended (peers that fail are logged and not waited
// for), or when there is no peer.
func (c *Client) AskFirst(ctx context.Context, op string, in any, timeout time.Duration) (Answer, bool) {
	live, err := c.Live(ctx)
	if err != nil {
		c.Logger.Warn("the peers are left out of a wait: the live set cannot be read", "op", op, "err", err)
		return Answer{}, false
	}
	body, err := json.Marshal(in)
	if err != nil {
		return Answer{}, false
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan Answer, len(live))
	n := 0
	for _, u := range live {
		if u == c.Self {
			continue
		}
		n++
		go func() {
			b, err := c.postWithin(ctx, u, op, body, timeout)
			if err != nil {
				if ctx.Err() == nil {
					c.Logger.Warn("a peer is left out of a wait", "peer", u, "op", op, "err", err)
				}
				got <- Answer{}
				return
			}
			got <- Answer{URL: u, Body: b}
		}()
	}
	for ; n > 0; n-- {
		if a := <-got; a.URL != "" {
			return a, true
		}
	}
	return Answer{}, false
}

func (c *Client) post(ctx context.Context, url, op string, body []byte) ([]byte, error) {
	d := c.Timeout
	if d == 0 {
		d = DefaultTimeout
	}
	return c.postWithin(ctx, url, op, body, d)
}

func (c *Client) postWithin(ctx context.Context, url, op string, body []byte, d time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+Prefix+op, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	t := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set(headerTime, t)
	req.Header.Set(headerSignature, sign(c.Key, op, t, body))
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("peer answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}
