package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Alert states.
const (
	stateOK       = "ok"
	statePending  = "pending"
	stateFiring   = "firing"
	stateResolved = "resolved" // history only: firing → ok
)

// ruleState is a rule's evaluation state as stored in alert_states under
// "<tenant>.<rule>".
type ruleState struct {
	// EvaluatedTo is the end of the last window evaluated.
	EvaluatedTo time.Time `json:"evaluated_to"`
	// Groups by groupKey.
	Groups map[string]*groupState `json:"groups,omitempty"`
}

// groupState is one alert: a group of a rule.
type groupState struct {
	Group map[string]string `json:"group,omitempty"`
	State string            `json:"state"`
	Since time.Time         `json:"since"`
	Value float64           `json:"value"`
	// Transitions counts the group's state changes: the n of the ids of
	// history entries and notifications.
	Transitions uint64 `json:"transitions"`
	// FiringSince is when the current firing started.
	FiringSince time.Time `json:"firing_since,omitzero"`
	// Notified is whether the current firing was notified (not silenced);
	// only then is its resolution notified.
	Notified bool `json:"notified,omitempty"`
	// LastNotified and Renotified drive renotify_interval.
	LastNotified time.Time `json:"last_notified,omitzero"`
	Renotified   int       `json:"renotified,omitempty"`
}

func (s *ruleState) clone() *ruleState {
	c := &ruleState{EvaluatedTo: s.EvaluatedTo, Groups: make(map[string]*groupState, len(s.Groups))}
	for k, g := range s.Groups {
		cg := *g
		cg.Group = maps.Clone(g.Group)
		c.Groups[k] = &cg
	}
	return c
}

// groupKey is the canonical key of group values in the order of by.
func groupKey(by []string, group map[string]string) string {
	var b strings.Builder
	for i, f := range by {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		b.WriteString(group[f])
	}
	return b.String()
}

// groupHash is a short token of a group key, safe in ids and subjects.
func groupHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// step is what one window did to one group.
type step struct {
	key      string
	from, to string // to is "resolved" for firing → ok
	notify   string // notification kind, "" for none
	n        uint64 // transition number (ids)
	renotify int    // renotification number when notify is renotify
}

// advance moves one group through one window: holds is whether the
// condition held, value the evaluated value, end the window's end. It
// returns the step taken (zero when the state and the notifications do not
// change) and updates g in place. silenced suppresses notifications.
func advance(g *groupState, holds bool, value float64, end time.Time, forDur, renotify time.Duration, silenced bool) step {
	g.Value = value
	s := step{from: g.State}
	move := func(to string) {
		g.Transitions++
		s.to, s.n = to, g.Transitions
		if to == stateResolved {
			to = stateOK
		}
		g.State, g.Since = to, end
	}
	switch {
	case g.State == stateOK && holds && forDur > 0:
		move(statePending)
	case (g.State == stateOK && holds) || (g.State == statePending && holds && end.Sub(g.Since) >= forDur):
		move(stateFiring)
		g.FiringSince, g.LastNotified, g.Renotified, g.Notified = end, end, 0, !silenced
		if !silenced {
			s.notify = "firing"
		}
	case g.State == statePending && !holds:
		move(stateOK)
	case g.State == stateFiring && !holds:
		notified := g.Notified
		move(stateResolved)
		g.Notified = false
		if notified && !silenced {
			s.notify = "resolved"
		}
	case g.State == stateFiring && renotify > 0 && end.Sub(g.LastNotified) >= renotify:
		g.LastNotified = end
		g.Renotified++
		if !silenced {
			s.notify, s.n, s.renotify = "renotify", g.Transitions, g.Renotified
			g.Notified = true
		}
	}
	return s
}

// historyID is the Nats-Msg-Id of a group's n-th transition's history entry.
// The window's end is part of it, so that a group dropped from the state
// (back to ok and gone from the results) and seen again later never reuses
// an id.
func historyID(ruleID, key string, n uint64, end time.Time) string {
	return "h." + ruleID + "." + groupHash(key) + "." + strconv.FormatUint(n, 10) + "." + strconv.FormatInt(end.UnixNano(), 10)
}

// notificationID is the id of a step's notification.
func notificationID(ruleID, key string, s step, end time.Time) string {
	id := ruleID + "-" + groupHash(key) + "-" + strconv.FormatUint(s.n, 10) + "-" + strconv.FormatInt(end.Unix(), 10)
	if s.notify == "renotify" {
		id += "-r" + strconv.Itoa(s.renotify)
	}
	return id
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
