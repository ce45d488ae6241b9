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

// CallMissingRoute asks the daemon at c for a route it does not serve, as
// a newer client asks an older daemon, and says whether the client took
// the answer for that (and not for a missing object).
func CallMissingRoute(c *Client) (noRoute bool, err error) {
	e := &endpoint{Method: "POST", Path: "/v1/imports/{id}/no-such-thing", Timeout: quick}
	err = c.roundTrip(c.ctx, e, importParam{ID: "x"}, nil, &struct{}{})
	return isNoRoute(err), err
}

// CallMissingImport asks about an import that does not exist.
func CallMissingImport(c *Client) (noRoute bool, err error) {
	_, err = opVariants.call(c.ctx, c, variantsRequest{ID: "00000000000000000000000000000000"})
	return isNoRoute(err), err
}
