package ctl

import (
	"encoding/json"
	"time"
)

// RoundTrip sends err through the wire's JSON form and back.
func RoundTrip(err error) error {
	b, _ := json.Marshal(toAPIError(err))
	var a apiError
	if e := json.Unmarshal(b, &a); e != nil {
		return e
	}
	return a.err()
}

// SetClusterMargin shortens how long past --wait a cluster activation's
// client waits, for the length of a test.
func SetClusterMargin(d time.Duration) func() {
	old := clusterMargin
	clusterMargin = d
	return func() { clusterMargin = old }
}
