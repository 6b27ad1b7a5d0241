package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/oces-pki/oces/audit"
)

// EventRequest is the body of POST /api/v1/audit/events: a record that a
// CA officer's own tool made, such as `oces sign` using a seal key on the
// officer's machine. The server stamps the time and the officer as actor;
// only the signing service's actions are accepted.
type EventRequest struct {
	Action  string            `json:"action"`
	Target  string            `json:"target"`
	Outcome string            `json:"outcome"`
	Details map[string]string `json:"details,omitempty"`
}

// relayedActions are the actions an officer's tool may record.
var relayedActions = map[string]bool{"signer.sign.before": true, "signer.sign.after": true, "signer.extend": true}

func (a *API) appendEvent(w http.ResponseWriter, r *http.Request, p *Principal) {
	if err := officerOnly(p, "record audit events"); err != nil {
		a.fail(w, r, err)
		return
	}
	var in EventRequest
	if err := a.decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if !relayedActions[in.Action] {
		a.fail(w, r, fmt.Errorf("%w: action %q cannot be recorded through the API (allowed: signer.sign.before, signer.sign.after, signer.extend)", errBadJSON, in.Action))
		return
	}
	if in.Target == "" || len(in.Target) > 256 || strings.ContainsAny(in.Target, "\x00\n") {
		a.fail(w, r, fmt.Errorf("%w: target must be 1 to 256 characters on one line", errBadJSON))
		return
	}
	ev := audit.Event{Time: time.Now(), Actor: p.Actor, Action: in.Action, Target: in.Target, Outcome: in.Outcome, Details: in.Details}
	if ev.Outcome == "" {
		ev.Outcome = audit.OutcomeOK
	}
	if err := ev.Validate(); err != nil {
		a.fail(w, r, fmt.Errorf("%w: %v", errBadJSON, err))
		return
	}
	if err := a.audit.AppendAudit(r.Context(), ev); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
