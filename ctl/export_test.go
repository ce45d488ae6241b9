package ctl

import "encoding/json"

// RoundTrip sends err through the wire's JSON form and back.
func RoundTrip(err error) error {
	b, _ := json.Marshal(toAPIError(err))
	var a apiError
	if e := json.Unmarshal(b, &a); e != nil {
		return e
	}
	return a.err()
}
