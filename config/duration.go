package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time, such as a timeout.
//
// A configuration file writes it as a Go duration string with its unit:
// "30s", "1m30s", "250ms", "1h" (units ns, us or µs, ms, s, m and h, with
// an optional fraction as in "1.5s"). Only 0 may be written without a
// unit. A bare number such as 250 is refused with the fix ("write 250ms or
// 250s"): some programs read it as milliseconds, others as seconds or
// nanoseconds, so the loader guesses neither.
//
// Negative durations, unknown units and durations above
// 2562047h47m16.854775807s are refused.
type Duration time.Duration

// DurationPattern is the regular expression, valid in Go and ECMAScript,
// that a duration written as a string matches. Every string
// [ParseDuration] accepts matches it; a matching string is still refused
// when it is too large.
const DurationPattern = `^(?:0|(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|μs|ms|s|m|h))+)$`

// durationForms says what a duration may look like, for error messages.
const durationForms = `a duration is a number with a unit, such as "30s", "1m30s" or "250ms" (0 alone needs none)`

var durationRE = lazyRegexp(DurationPattern)

// ParseDuration parses a duration written as a string, such as "1m30s".
// See [Duration] for the accepted forms.
func ParseDuration(s string) (Duration, error) {
	if err := durationSyntax(s); err != nil {
		return 0, err
	}
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		// The syntax matched, so only the range can be wrong.
		return 0, fmt.Errorf("%q is too large: the longest duration is %s", s, time.Duration(math.MaxInt64))
	}
	return Duration(d), nil
}

// noUnit says that the number written as text has no unit, and how to
// write it with one.
func noUnit(shown, text string) string {
	return fmt.Sprintf("%s has no unit: write %sms or %ss", shown, text, text)
}

// durationSyntax explains why s does not have the shape of a duration,
// or returns nil when it matches [DurationPattern].
func durationSyntax(s string) error {
	if durationRE().MatchString(s) {
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
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not a length of time: %s", s, durationForms)
		}
		if f == 0 {
			return fmt.Errorf("%q has no unit: write 0", s)
		}
		return errors.New(noUnit(strconv.Quote(s), s))
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
