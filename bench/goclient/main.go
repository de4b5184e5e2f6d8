// The pipeline bench's compiled client (`bench/pipeline.py --client go`): the same protocol and
// schedule as the Python workers, in one process, so that less of the machine goes to the load.
//
// Usage: goclient SPEC.json. It connects every connection of the spec, prints
// {"connected":N,"failed":M} on a line, waits for a line on stdin, sends at the spec's rate
// (open loop, every 2 ms what is due) for warmup+seconds, waits `drain` seconds for what is in
// flight, and prints the counts and the latencies (microseconds) on a line of JSON.
//
// Latency is from the send to a receipt by each other member, measured on one monotonic clock:
// every connection lives in this process.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

type connSpec struct {
	Token  string  `json:"token"`
	UserID string  `json:"user_id"`
	SendTo *string `json:"send_to"`
	URL    string  `json:"url"`
}

type spec struct {
	Conns   []connSpec `json:"conns"`
	Edge    bool       `json:"edge"`
	Rate    float64    `json:"rate"`
	Seconds float64    `json:"seconds"`
	Warmup  float64    `json:"warmup"`
	Drain   float64    `json:"drain"`
}

type result struct {
	Counts    map[string]int64 `json:"counts"`
	Errors    map[string]int64 `json:"errors"`
	Latencies []int64          `json:"latencies"`
	Acks      []int64          `json:"acks"`
}

var (
	origin    = time.Now()
	measuring atomic.Bool

	mu        sync.Mutex
	latencies []int64
	acks      []int64
	sentAt    = map[string]int64{}
	codes     = map[string]int64{}

	sent, accepted, received, errorFrames atomic.Int64

	created     = []byte(`"message.created"`)
	senderField = []byte(`"sender_id":"`)
	bodyField   = []byte(`"body":"`)
	clientField = []byte(`"client_id":"`)
	acceptedPre = []byte(`{"type":"accepted"`)
	errorPre    = []byte(`{"type":"error"`)
)

// now is nanoseconds on this process's monotonic clock.
func now() int64 { return int64(time.Since(origin)) }

// field is the string value after `name` in a frame, found by position as the lean Python client
// does: the server writes its frames in one fixed shape.
func field(frame, name []byte) []byte {
	at := bytes.Index(frame, name)
	if at < 0 {
		return nil
	}
	rest := frame[at+len(name):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil
	}
	return rest[:end]
}

func read(ctx context.Context, c *websocket.Conn, me string) {
	for {
		_, frame, err := c.Read(ctx)
		if err != nil {
			return
		}
		switch {
		case bytes.Contains(frame, created):
			if string(field(frame, senderField)) == me {
				continue
			}
			received.Add(1)
			if measuring.Load() {
				if sentNs, err := strconv.ParseInt(string(field(frame, bodyField)), 10, 64); err == nil {
					mu.Lock()
					latencies = append(latencies, (now()-sentNs)/1000)
					mu.Unlock()
				}
			}
		case bytes.HasPrefix(frame, acceptedPre):
			accepted.Add(1)
			id := string(field(frame, clientField))
			mu.Lock()
			started, ok := sentAt[id]
			delete(sentAt, id)
			if ok && measuring.Load() {
				acks = append(acks, (now()-started)/1000)
			}
			mu.Unlock()
		case bytes.HasPrefix(frame, errorPre):
			errorFrames.Add(1)
			var e struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(frame, &e)
			mu.Lock()
			codes[e.Code]++
			mu.Unlock()
		}
	}
}

func open(ctx context.Context, s *spec, cs connSpec) (*websocket.Conn, error) {
	protocols := []string{"parley.v1"}
	if s.Edge { // through the entry point the token comes with the handshake (its JWT gate)
		protocols = append(protocols, "parley.token."+cs.Token)
	}
	dialCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dialCtx, cs.URL, &websocket.DialOptions{
		Subprotocols:    protocols,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	if !s.Edge {
		auth, _ := json.Marshal(map[string]string{"type": "auth", "token": cs.Token})
		if err := c.Write(dialCtx, websocket.MessageText, auth); err != nil {
			return nil, err
		}
	}
	_, hello, err := c.Read(dialCtx)
	if err != nil {
		return nil, err
	}
	var h struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(hello, &h) != nil || h.Type != "hello" {
		return nil, fmt.Errorf("not a hello: %s", hello)
	}
	return c, nil
}

type sender struct {
	c      *websocket.Conn
	prefix string
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goclient SPEC.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var s spec
	if err := json.Unmarshal(raw, &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()

	var (
		wg                sync.WaitGroup
		openMu            sync.Mutex
		senders           []sender
		conns             []*websocket.Conn
		connected, failed int64
	)
	limit := make(chan struct{}, 100)
	for _, cs := range s.Conns {
		wg.Add(1)
		go func(cs connSpec) {
			defer wg.Done()
			limit <- struct{}{}
			defer func() { <-limit }()
			c, err := open(ctx, &s, cs)
			openMu.Lock()
			defer openMu.Unlock()
			if err != nil {
				failed++
				if failed <= 3 {
					fmt.Fprintf(os.Stderr, "  connect failed: %v\n", err)
				}
				return
			}
			connected++
			conns = append(conns, c)
			if cs.SendTo != nil {
				senders = append(senders, sender{c, `{"type":"send","chat_id":"` + *cs.SendTo + `","client_id":"`})
			}
			go read(ctx, c, cs.UserID)
		}(cs)
	}
	wg.Wait()
	out := bufio.NewWriter(os.Stdout)
	ready, _ := json.Marshal(map[string]int64{"connected": connected, "failed": failed})
	fmt.Fprintln(out, string(ready))
	out.Flush()
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(1)
	}

	tagBytes := make([]byte, 4)
	_, _ = rand.Read(tagBytes)
	tag := hex.EncodeToString(tagBytes)
	start := time.Now()
	due, index := 0, 0
	for len(senders) > 0 {
		elapsed := time.Since(start).Seconds()
		if elapsed >= s.Warmup+s.Seconds {
			break
		}
		measuring.Store(elapsed >= s.Warmup)
		for target := int(elapsed * s.Rate); due < target; due++ {
			to := senders[index%len(senders)]
			id := tag + strconv.Itoa(index)
			index++
			at := now()
			mu.Lock()
			sentAt[id] = at
			mu.Unlock()
			frame := to.prefix + id + `","body":"` + strconv.FormatInt(at, 10) + `"}`
			if to.c.Write(ctx, websocket.MessageText, []byte(frame)) == nil {
				sent.Add(1)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(time.Duration(s.Drain * float64(time.Second)))
	measuring.Store(false)

	mu.Lock()
	r := result{
		Counts: map[string]int64{
			"sent": sent.Load(), "accepted": accepted.Load(), "received": received.Load(),
			"errors": errorFrames.Load(), "connected": connected, "failed": failed,
		},
		Errors:    codes,
		Latencies: latencies,
		Acks:      acks,
	}
	done, _ := json.Marshal(r)
	mu.Unlock()
	fmt.Fprintln(out, string(done))
	out.Flush()
	for _, c := range conns {
		_ = c.Close(websocket.StatusNormalClosure, "")
	}
}
