package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time, such as a timeout.
//
// A configuration file writes it as a Go duration string ("30s", "1m30s",
// "250ms", "1h"; units ns, us or µs, ms, s, m and h, with an optional
// fraction as in "1.5s") or as a whole number of seconds: 30 means thirty
// seconds, never thirty nanoseconds. A string of digits such as "30", as
// environment variables give, is also a number of seconds.
//
// Negative durations, unknown units, fractions of a second without a unit
// (1.9) and durations above 2562047h47m16.854775807s are refused.
type Duration time.Duration

// DurationPattern is the regular expression, valid in Go and ECMAScript,
// that a duration written as a string matches. Every string
// [ParseDuration] accepts matches it; a matching string is still refused
// when it is too large.
const DurationPattern = `^(?:[0-9]+|(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|μs|ms|s|m|h))+)$`

// MaxDurationSeconds is the largest whole number of seconds a duration
// can be.
const MaxDurationSeconds = math.MaxInt64 / int64(time.Second)

// durationForms says what a duration may look like, for error messages.
const durationForms = `a duration is a Go duration ("30s", "1m30s", "250ms") or a whole number of seconds (30)`

var durationRE = regexp.MustCompile(DurationPattern)

// ParseDuration parses a duration written as a string, such as "1m30s" or
// "30" (seconds). See [Duration] for the accepted forms.
func ParseDuration(s string) (Duration, error) {
	if err := durationSyntax(s); err != nil {
		return 0, err
	}
	if isDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > MaxDurationSeconds {
			return 0, fmt.Errorf("%q seconds is too large: the longest duration is %d seconds (%s)", s, MaxDurationSeconds, time.Duration(math.MaxInt64))
		}
		return Duration(time.Duration(n) * time.Second), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		// The syntax matched, so only the range can be wrong.
		return 0, fmt.Errorf("%q is too large: the longest duration is %s", s, time.Duration(math.MaxInt64))
	}
	return Duration(d), nil
}

// DurationFromSeconds returns n seconds, or an error when n is negative or
// too large.
func DurationFromSeconds(n int64) (Duration, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%d is negative: a duration is 0 or more", n)
	case n > MaxDurationSeconds:
		return 0, fmt.Errorf("%d seconds is too large: the longest duration is %d seconds", n, MaxDurationSeconds)
	}
	return Duration(time.Duration(n) * time.Second), nil
}

// durationSyntax explains why s does not have the shape of a duration,
// or returns nil when it matches [DurationPattern].
func durationSyntax(s string) error {
	if durationRE.MatchString(s) {
		return nil
	}
	switch {
	case s == "":
		return errors.New(`the duration is empty: ` + durationForms)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%q has a space before or after it: remove it", s)
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("%q is negative: a duration is 0 or more", s)
	case strings.HasPrefix(s, "+"):
		return fmt.Errorf("%q has a sign: write it without +", s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return fmt.Errorf("%q has no unit: write %ss, or a whole number of seconds", s, s)
	}
	if unit := unknownUnit(s); unit != "" {
		return fmt.Errorf("%q has an unknown unit %q: use ns, us, ms, s, m or h, as in \"1m30s\"", s, unit)
	}
	return fmt.Errorf("%q is not a duration: %s", s, durationForms)
}

// unknownUnit returns the first unit in s that Go durations do not have,
// when s is otherwise numbers followed by letters.
func unknownUnit(s string) string {
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return ""
		}
		j := i
		for j < len(s) && (s[j] < '0' || s[j] > '9') && s[j] != '.' && s[j] != ' ' {
			j++
		}
		switch unit := s[i:j]; unit {
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
		case "":
			return ""
		default:
			return unit
		}
		s = s[j:]
	}
	return ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// String returns the duration as Go writes it, such as "1m30s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as Go writes it, which
// [Duration.UnmarshalText] reads back.
func (d Duration) MarshalText() ([]byte, error) {
	if d < 0 {
		return nil, fmt.Errorf("duration %s is negative", time.Duration(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText reads a duration written as in a configuration file; see
// [ParseDuration].
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
