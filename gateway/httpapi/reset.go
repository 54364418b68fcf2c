package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"qaas.dev/qaas/gateway/kafka"
)

const (
	// maxResetBody bounds a reset's body: a few offsets per partition.
	maxResetBody = 256 << 10
	// resetHold bounds how long a reset keeps its group's members from
	// joining again, should it never say it is done (a replica lost).
	resetHold = 10 * time.Second
	// pauseTimeout bounds asking another replica to pause or resume a
	// group: a replica that does not answer by then (a pod gone, whose
	// address a dial would wait on for half a minute) fails the reset at
	// once, and leaves the commit most of resetHold.
	pauseTimeout = 3 * time.Second
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
	topic, group, err := topicAndGroup(r)
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
	reset := &groupReset{user: user, groupID: user.Name + "." + group, group: group,
		auth: r.Header.Get("Authorization"), id: rand.Text()}
	peers, err := user.GroupPeers(reset.groupID)
	if err != nil {
		return err
	}
	paused, err := s.pauseGroup(r.Context(), reset, peers)
	if err != nil {
		return err
	}
	err = user.CommitOffsets(topic, reset.groupID, offsets)
	// The group's GETs wait for this, not for the answer.
	s.resumeGroup(reset, paused)
	if err != nil {
		return err
	}
	answer, err := s.lagOf(user, topic, group)
	if err != nil {
		// The reset took; only its lag is not known now.
		s.log.Warn("reading a group's lag after its reset", "topic", topic, "group", reset.groupID, "error", err)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return writeJSON(w, http.StatusOK, answer)
}

// groupReset is one reset of a user's group, as its pauses name it.
type groupReset struct {
	user                 *kafka.User
	groupID, group, auth string
	// id tells this reset's hold on the group from another's at once.
	id string
}

// pauseGroup has this replica and every other replica with a member of the
// group (peers) leave it and stay out until resumeGroup, all at once, and
// returns the others it paused. When one cannot be asked in pauseTimeout,
// the others are let go at once and the reset is refused: nothing changed.
// A replica that nothing listens at any more holds no member that could
// hand out; should Kafka still list its member, the commit is refused.
func (s *server) pauseGroup(ctx context.Context, reset *groupReset, peers []string) ([]string, error) {
	var others []string
	for _, addr := range peers {
		if s.Peers != nil && addr != s.self() {
			others = append(others, addr)
		}
	}
	errs := make([]error, len(others))
	var wg sync.WaitGroup
	wg.Go(func() { reset.user.PauseGroup(reset.groupID, reset.id, resetHold) })
	for i, addr := range others {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, pauseTimeout)
			defer cancel()
			errs[i] = s.Peers.groupCall(ctx, addr, reset, "pause")
		})
	}
	wg.Wait()
	var paused []string
	failed := 0
	for i, err := range errs {
		switch {
		case err == nil:
			paused = append(paused, others[i])
		case errors.Is(err, syscall.ECONNREFUSED):
		default:
			failed++
			s.log.Warn("pausing a consumer group on another replica for a reset", "group", reset.groupID, "replica", others[i], "error", err)
		}
	}
	if failed == 0 {
		return paused, nil
	}
	s.resumeGroup(reset, paused)
	return nil, &requestError{status: http.StatusConflict, retryAfter: time.Second, message: fmt.Sprintf(
		"consumer group %s's offsets were not changed: %d gateway replica(s) with a member of it did not answer in time to leave it; retry (a replica that stopped without leaving stays a member up to its session timeout)",
		reset.group, failed)}
}

// resumeGroup lets the group's members join again, here and on the
// replicas paused, all at once; one that does not hear it resumes after
// resetHold.
func (s *server) resumeGroup(reset *groupReset, paused []string) {
	reset.user.ResumeGroup(reset.groupID, reset.id)
	var wg sync.WaitGroup
	for _, addr := range paused {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), pauseTimeout)
			defer cancel()
			if err := s.Peers.groupCall(ctx, addr, reset, "resume"); err != nil {
				s.log.Warn("resuming a consumer group on another replica after a reset", "group", reset.groupID, "replica", addr, "error", err)
			}
		})
	}
	wg.Wait()
}

// groupCall asks the replica at addr to pause or resume the client's group
// (see peerGroup). The group goes in the query, never in the path: a
// group named "." or ".." would change the path.
func (p *Peers) groupCall(ctx context.Context, addr string, reset *groupReset, action string) error {
	resp, err := p.call(ctx, http.MethodPost, addr, reset.auth, "/peer/v1/group/"+action, url.Values{"group": {reset.group}, "reset": {reset.id}}, nil)
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

// peerGroup serves POST /peer/v1/group/{pause|resume}?group=&reset=, a
// reset's call on another replica: pause has the user's members of the
// group leave it and stay out (for up to resetHold), resume ends that
// reset's hold.
func (s *server) peerGroup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	group, err := parseGroup(q.Get("group"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resetID := q.Get("reset")
	if resetID == "" || len(resetID) > 64 {
		s.writeError(w, r, badRequest("reset must name the reset, in 1 to 64 characters"))
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
		user.PauseGroup(groupID, resetID, resetHold)
	case "resume":
		user.ResumeGroup(groupID, resetID)
	default:
		notFound(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
