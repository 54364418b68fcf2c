package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"qaas.dev/qaas/gateway/kafka"
)

const (
	// maxResetBody bounds a reset's body: a few offsets per partition.
	maxResetBody = 256 << 10
	// resetHold bounds how long a reset keeps its group's members from
	// joining again, should it never say it is done (a replica lost).
	resetHold = 10 * time.Second
)

// resetRequest is the body of POST /topic/{topic}/offsets: To for every
// partition, or Offsets for some.
type resetRequest struct {
	To      *string
	Offsets []struct {
		Partition *int32
		Offset    *int64
	}
}

// readResetRequest reads and checks a reset's body: what it returns is
// either a position for every partition or explicit offsets.
func readResetRequest(w http.ResponseWriter, r *http.Request) (*kafka.Position, []kafka.PartitionOffset, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxResetBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, tooLarge(fmt.Sprintf("a reset's body is at most %d bytes", maxResetBody))
		}
		return nil, nil, badRequest("the body could not be read")
	}
	const shape = `the body must be {"To":"earliest"}, {"To":"latest"}, {"To":"<RFC 3339 time>"} or {"Offsets":[{"Partition":0,"Offset":5}]}`
	var req resetRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return nil, nil, badRequest(shape)
	}
	switch {
	case req.To != nil && req.Offsets != nil, req.To == nil && len(req.Offsets) == 0:
		return nil, nil, badRequest(shape + ": give To or Offsets, not both")
	case req.To != nil:
		pos, ok := parsePosition(*req.To)
		if !ok {
			return nil, nil, badRequest("To must be " + positionHelp)
		}
		return &pos, nil, nil
	}
	offsets := make([]kafka.PartitionOffset, 0, len(req.Offsets))
	seen := map[int32]bool{}
	for _, o := range req.Offsets {
		if o.Partition == nil || o.Offset == nil || *o.Partition < 0 || *o.Offset < 0 {
			return nil, nil, badRequest("each of Offsets needs a Partition and an Offset, both 0 or more")
		}
		if seen[*o.Partition] {
			return nil, nil, badRequest(fmt.Sprintf("partition %d is given twice in Offsets", *o.Partition))
		}
		seen[*o.Partition] = true
		offsets = append(offsets, kafka.PartitionOffset{Partition: *o.Partition, Offset: *o.Offset})
	}
	return nil, offsets, nil
}

// resetOffsets handles POST /topic/{topic}/offsets?group=: it sets where
// the user's group reads the topic from next, and answers the group's lag
// after it. Kafka takes the offsets only while the group has no member, so
// every replica with a member of the group leaves it first (messages
// handed out and not yet committed are given back, never committed), and
// the next GET joins again.
func (s *server) resetOffsets(w http.ResponseWriter, r *http.Request) error {
	topic, q, err := topicAndQuery(r)
	if err != nil {
		return err
	}
	group, err := parseGroup(q.Get("group"))
	if err != nil {
		return err
	}
	pos, offsets, err := readResetRequest(w, r)
	if err != nil {
		return err
	}
	user, err := s.authenticate(r)
	if err != nil {
		return err
	}
	defer s.Pool.Release(user)
	if err := user.CheckTopic(topic); err != nil {
		return err
	}
	// Everything is checked before any member leaves: a refused reset
	// changes nothing.
	if pos != nil {
		offsets, err = user.ResetTargets(topic, *pos)
	} else {
		err = user.CheckOffsets(topic, offsets)
	}
	if err != nil {
		return err
	}
	groupID := user.Name + "." + group
	peers, err := user.GroupPeers(groupID)
	if err != nil {
		return err
	}
	auth := r.Header.Get("Authorization")
	s.pauseGroup(r.Context(), user, groupID, group, auth, peers)
	defer s.resumeGroup(user, groupID, group, auth, peers)
	if err := user.CommitOffsets(topic, groupID, offsets); err != nil {
		return err
	}
	return s.writeLag(w, user, topic, group)
}

// pauseGroup has this replica and every replica with a member of the
// group leave it and stay out until resumeGroup. A replica that cannot be
// reached stays a member: Kafka then refuses the commit, which says so.
func (s *server) pauseGroup(ctx context.Context, user *kafka.User, groupID, group, auth string, peers []string) {
	user.PauseGroup(groupID, resetHold)
	for _, addr := range peers {
		if addr != s.self() && s.Peers != nil {
			_ = s.Peers.groupCall(ctx, addr, auth, group, "pause")
		}
	}
}

// resumeGroup lets the group's members join again, here and on the
// replicas paused; those that do not hear it resume after resetHold.
func (s *server) resumeGroup(user *kafka.User, groupID, group, auth string, peers []string) {
	user.ResumeGroup(groupID)
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	for _, addr := range peers {
		if addr != s.self() && s.Peers != nil {
			_ = s.Peers.groupCall(ctx, addr, auth, group, "resume")
		}
	}
}

// groupCall asks the replica at addr to pause or resume the client's group
// (see peerGroup).
func (p *Peers) groupCall(ctx context.Context, addr, auth, group, action string) error {
	u := url.URL{Scheme: "http", Host: addr, Path: "/peer/v1/group/" + group + "/" + action}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set(PeerTokenHeader, p.Token)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("the replica at %s answered %d", addr, resp.StatusCode)
	}
	return nil
}

// peerGroup serves POST /peer/v1/group/{group}/{pause|resume}, a reset's
// call on another replica: pause has the user's members of the group leave
// it and stay out (for up to resetHold), resume lets them join again.
func (s *server) peerGroup(w http.ResponseWriter, r *http.Request) {
	group, err := parseGroup(r.PathValue("group"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer s.Pool.Release(user)
	groupID := user.Name + "." + group
	switch r.PathValue("action") {
	case "pause":
		user.PauseGroup(groupID, resetHold)
	case "resume":
		user.ResumeGroup(groupID)
	default:
		notFound(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
