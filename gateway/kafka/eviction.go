package kafka

import (
	"time"
)

// reserveMember reserves n bytes of the user's and the gateway's budgets
// for a new member, closing idle members to make room: the user's own
// when its budget is short, anyone's when the gateway's is. When every
// member that holds the budget is busy, the request is throttled.
func (u *User) reserveMember(n int64, topic string, partitions int) error {
	if n > u.memory.limit || n > u.memory.parent.limit {
		return newError(KindInternal, nil, "a consumer of topic %s (%d partitions) needs %s, more than the gateway allows a user (%s) or in all (%s): raise the consume memory budgets or lower --max-message-bytes",
			topic, partitions, mib(n), mib(u.memory.limit), mib(u.memory.parent.limit))
	}
	for {
		short := u.memory.reserve(n)
		if short == nil {
			return nil
		}
		own := short == u.memory
		if u.reclaim(own) {
			continue
		}
		var err *Error
		if own {
			err = newError(KindThrottled, nil, "user %s's consumer groups in this gateway use all of its memory budget (%s) and none is idle; retry when a request of another group is done",
				u.Name, mib(u.memory.limit))
		} else {
			err = newError(KindThrottled, nil, "the consumer groups open in this gateway use all of its memory budget (%s) and none is idle; retry in a moment",
				mib(u.memory.parent.limit))
		}
		err.RetryAfter = time.Second
		return err
	}
}

// closeIdleMember closes the least recently used idle member of user, or
// of any user when user is nil, and tells whether there was one.
func (p *Pool) closeIdleMember(user *User) bool {
	users := []*User{user}
	if user == nil {
		users = p.snapshot()
	}
	for {
		var victim *member
		var owner *User
		var victimUsed time.Time
		for _, u := range users {
			if m, used := u.leastRecentlyUsedIdle(); m != nil && (victim == nil || used.Before(victimUsed)) {
				victim, owner, victimUsed = m, u, used
			}
		}
		if victim == nil {
			return false
		}
		// A request that took the member up meanwhile keeps it: look again.
		if owner.evict(victim) {
			p.evictions.Add(1)
			return true
		}
	}
}

// leastRecentlyUsedIdle returns the user's member that serves no request
// and awaits no delivery and was used longest ago, and when.
func (u *User) leastRecentlyUsedIdle() (*member, time.Time) {
	u.membersMu.Lock()
	defer u.membersMu.Unlock()
	var lru *member
	var lruUsed time.Time
	for _, m := range u.members {
		if used, idle := m.idle(); idle && (lru == nil || used.Before(lruUsed)) {
			lru, lruUsed = m, used
		}
	}
	return lru, lruUsed
}

// evict closes m if it is still the user's and still idle; a request may
// have taken it up meanwhile.
func (u *User) evict(m *member) bool {
	u.membersMu.Lock()
	key := memberKey{m.topic, m.groupID}
	if _, idle := m.idle(); u.members[key] != m || !idle {
		u.membersMu.Unlock()
		return false
	}
	delete(u.members, key)
	u.membersMu.Unlock()
	m.log.Debug("closing an idle consumer group member to make room for another")
	m.close()
	return true
}

// idle tells whether the member serves no request and awaits no delivery,
// and when it was last used.
func (m *member) idle() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastUsed, m.active == 0 && m.leases == 0
}
