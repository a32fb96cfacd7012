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
		{"30s", 30 * time.Second},
		{"1m30s", 90 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"1.5h", 90 * time.Minute},
		{"10µs", 10 * time.Microsecond},
		{"10us", 10 * time.Microsecond},
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
		{"", `the duration is empty: a duration is a number with a unit, such as "30s", "1m30s" or "250ms" (0 alone needs none)`},
		{"250", `"250" has no unit: write 250ms or 250s`},
		{"30", `"30" has no unit: write 30ms or 30s`},
		{"NaN", `"NaN" is not a length of time: a duration is a number with a unit, such as "30s", "1m30s" or "250ms" (0 alone needs none)`},
		{"inf", `"inf" is not a length of time: a duration is a number with a unit, such as "30s", "1m30s" or "250ms" (0 alone needs none)`},
		{"00", `"00" has no unit: write 0`},
		{"-5s", `"-5s" is negative: a duration is 0 or more`},
		{"+5s", `"+5s" has a sign: write it without +`},
		{"5x", `"5x" has an unknown unit "x": use ns, us, ms, s, m or h, as in "1m30s"`},
		{"1d", `"1d" has an unknown unit "d": use ns, us, ms, s, m or h, as in "1m30s"`},
		{"5S", `"5S" has an unknown unit "S": use ns, us, ms, s, m or h, as in "1m30s"`},
		{"1.5", `"1.5" has no unit: write 1.5ms or 1.5s`},
		{" 5s", `" 5s" has a space before or after it: remove it`},
		{"5 s", `"5 s" is not a duration: a duration is a number with a unit, such as "30s", "1m30s" or "250ms" (0 alone needs none)`},
		{".5s", `".5s" is not a duration: a duration is a number with a unit, such as "30s", "1m30s" or "250ms" (0 alone needs none)`},
		{"3000000h", `"3000000h" is too large: the longest duration is 2562047h47m16.854775807s`},
	} {
		_, err := ParseDuration(c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("ParseDuration(%q) error = %v\nwant %s", c.in, err, c.want)
		}
	}
}

// FuzzParseDuration checks that ParseDuration never panics, that what it
// accepts matches DurationPattern and is what time.ParseDuration says, and that what it refuses for its shape fails
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
		want, err := time.ParseDuration(s)
		if err != nil || Duration(want) != got {
			t.Fatalf("ParseDuration(%q) = %v, time.ParseDuration %v, %v", s, got, want, err)
		}
	})
}
