package config

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"30", 30 * time.Second},
		{"30s", 30 * time.Second},
		{"1m30s", 90 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"1.5h", 90 * time.Minute},
		{"10µs", 10 * time.Microsecond},
		{"10us", 10 * time.Microsecond},
		{"9223372036", 9223372036 * time.Second},
		{"1h0m0s", time.Hour},
	} {
		got, err := ParseDuration(c.in)
		if err != nil || time.Duration(got) != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, time.Duration(got), err, c.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `the duration is empty: a duration is a Go duration ("30s", "1m30s", "250ms") or a whole number of seconds (30)`},
		{"-5s", `"-5s" is negative: a duration is 0 or more`},
		{"+5s", `"+5s" has a sign: write it without +`},
		{"5x", `"5x" has an unknown unit "x": use ns, us, ms, s, m or h, as in "1m30s"`},
		{"1d", `"1d" has an unknown unit "d": use ns, us, ms, s, m or h, as in "1m30s"`},
		{"5S", `"5S" has an unknown unit "S": use ns, us, ms, s, m or h, as in "1m30s"`},
		{"1.5", `"1.5" has no unit: write 1.5s, or a whole number of seconds`},
		{" 5s", `" 5s" has a space before or after it: remove it`},
		{"5 s", `"5 s" is not a duration: a duration is a Go duration ("30s", "1m30s", "250ms") or a whole number of seconds (30)`},
		{".5s", `".5s" is not a duration: a duration is a Go duration ("30s", "1m30s", "250ms") or a whole number of seconds (30)`},
		{"9223372037", `"9223372037" seconds is too large: the longest duration is 9223372036 seconds (2562047h47m16.854775807s)`},
		{"3000000h", `"3000000h" is too large: the longest duration is 2562047h47m16.854775807s`},
	} {
		_, err := ParseDuration(c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("ParseDuration(%q) error = %v\nwant %s", c.in, err, c.want)
		}
	}
}

func TestDurationFromSeconds(t *testing.T) {
	if d, err := DurationFromSeconds(5); err != nil || time.Duration(d) != 5*time.Second {
		t.Errorf("DurationFromSeconds(5) = %v, %v", d, err)
	}
	if _, err := DurationFromSeconds(-1); err == nil || err.Error() != "-1 is negative: a duration is 0 or more" {
		t.Errorf("DurationFromSeconds(-1) error = %v", err)
	}
	if _, err := DurationFromSeconds(MaxDurationSeconds + 1); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("DurationFromSeconds(max+1) error = %v", err)
	}
}

// FuzzParseDuration checks that ParseDuration never panics, that what it
// accepts matches DurationPattern and is what time.ParseDuration says
// (digits being seconds), and that what it refuses for its shape fails
// DurationPattern too.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "30", "30s", "1m30s", "250ms", "1.5h", "10µs", "10μs", "-5s", "5x", "1.5", " 5s", ".5s", "5.s", "9223372037", "3000000h", "1h1h1h"} {
		f.Add(s)
	}
	re := regexp.MustCompile(DurationPattern)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDuration(s)
		if err != nil {
			if re.MatchString(s) && !strings.Contains(err.Error(), "too large") {
				t.Fatalf("ParseDuration(%q) refused a string that matches DurationPattern: %v", s, err)
			}
			return
		}
		if !re.MatchString(s) {
			t.Fatalf("ParseDuration(%q) = %v but DurationPattern does not match", s, got)
		}
		if got < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, got)
		}
		if isDigits(s) {
			return
		}
		want, err := time.ParseDuration(s)
		if err != nil || Duration(want) != got {
			t.Fatalf("ParseDuration(%q) = %v, time.ParseDuration %v, %v", s, got, want, err)
		}
	})
}
