package kafka

import (
	"sync"

	"golang.org/x/time/rate"
)

const (
	// perUserLoginRate and perUserLoginBurst bound the logins one username
	// can attempt, so that guessing one user's password neither costs
	// Kafka much nor locks other users out.
	perUserLoginRate  = 1
	perUserLoginBurst = 3
	// maxTrackedUsers bounds the per-username limiters kept; past it they
	// start afresh, so random usernames cannot grow memory.
	maxTrackedUsers = 10000
)

// loginLimiter throttles new Kafka logins, each of which costs
// connections: per username, and in all.
type loginLimiter struct {
	global *rate.Limiter

	mu      sync.Mutex
	perUser map[string]*rate.Limiter
}

func newLoginLimiter(perSecond float64) *loginLimiter {
	return &loginLimiter{
		global:  rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond))),
		perUser: map[string]*rate.Limiter{},
	}
}

// allow says whether name may attempt a login now.
func (l *loginLimiter) allow(name string) bool {
	l.mu.Lock()
	lim := l.perUser[name]
	if lim == nil {
		if len(l.perUser) >= maxTrackedUsers {
			clear(l.perUser)
		}
		lim = rate.NewLimiter(perUserLoginRate, perUserLoginBurst)
		l.perUser[name] = lim
	}
	ok := lim.Allow()
	l.mu.Unlock()
	return ok && l.global.Allow()
}
