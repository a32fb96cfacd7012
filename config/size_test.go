package config

import (
	"regexp"
	"strings"
	"testing"

	"github.com/dustin/go-humanize"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Size
	}{
		{"0", 0},
		{"10240", 10240},
		{"1m", 1000000},
		{"1M", 1000000},
		{"1mb", 1000000},
		{"1MiB", 1048576},
		{"1mi", 1048576},
		{"500kb", 500000},
		{"500KB", 500000},
		{"10 KiB", 10240},
		{"10KiB", 10240},
		{"1k", 1000},
		{"1.5k", 1500},
		{"1.5KiB", 1536},
		{"4.35k", 4350}, // exact: go-humanize's float gives 4349
		{"7b", 7},
		{"7 B", 7},
		{"1e", 1000000000000000000},
		{"8EiB", 0}, // too large, checked below
	} {
		got, err := ParseSize(c.in)
		if c.in == "8EiB" {
			if err == nil || !strings.Contains(err.Error(), "too large") {
				t.Errorf("ParseSize(%q) = %d, %v; want too large", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `the size is empty: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
		{"-1k", `"-1k" is negative: a size is 0 or more bytes`},
		{"-5", `"-5" is negative: a size is 0 or more bytes`},
		{"1.5", `"1.5" is not a whole number of bytes: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
		{"0.1b", `"0.1b" is not a whole number of bytes: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
		{"1.0001k", `"1.0001k" is not a whole number of bytes: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
		{"12xb", `"12xb" has an unknown unit "xb": use b, k, kb, ki, kib, m, mb, mi, mib and so on up to e and eib (k, m and g are powers of 1000; ki, mi and gi powers of 1024)`},
		{"1,024", `"1,024" has a digit separator: write 1024`},
		{"1,000,000", `"1,000,000" has a digit separator: write 1000000`},
		{"1,5mb", `"1,5mb" has a decimal comma: write 1.5mb (1500000 bytes)`},
		{"2,25 KiB", `"2,25 KiB" has a decimal comma: write 2.25 KiB (2304 bytes)`},
		{"1,5", `"1,5" has a decimal comma, and a size in bytes must be whole: write a whole number of bytes, or the fraction with a unit, such as 1.5k (1500 bytes)`},
		{"1,500mb", `"1,500mb" has a comma: write 1500mb if it separates thousands, or 1.500mb if it is a decimal comma`},
		{"1,2,3", `"1,2,3" has a comma: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
		{" 10KiB", `" 10KiB" has a space before or after it: remove it`},
		{"10KiB ", `"10KiB " has a space before or after it: remove it`},
		{"10  KiB", `"10  KiB" is not a size: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
		{"abc", `"abc" is not a size: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
		{"20EiB", `"20EiB" is too large: the largest size is 9223372036854775807 bytes (8 EiB - 1)`},
		{"99999999999999999999", `"99999999999999999999" is too large: the largest size is 9223372036854775807 bytes (8 EiB - 1)`},
	} {
		_, err := ParseSize(c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("ParseSize(%q) error = %v\nwant %s", c.in, err, c.want)
		}
	}
}

func TestSizeText(t *testing.T) {
	for _, c := range []struct {
		s         Size
		str, text string
	}{
		{10240, "10 KiB", "10KiB"},
		{1000000, "977 KiB", "1000000"},
		{1048576, "1.0 MiB", "1MiB"},
		{0, "0 B", "0"},
	} {
		if got := c.s.String(); got != c.str {
			t.Errorf("Size(%d).String() = %q, want %q", c.s, got, c.str)
		}
		b, err := c.s.MarshalText()
		if err != nil || string(b) != c.text {
			t.Errorf("Size(%d).MarshalText() = %q, %v; want %q", c.s, b, err, c.text)
		}
		var back Size
		if err := back.UnmarshalText(b); err != nil || back != c.s {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", b, back, err, c.s)
		}
	}
}

// FuzzParseSize checks that ParseSize never panics, that what it accepts
// matches SizePattern and agrees with go-humanize, and that every string
// it refuses for its shape also fails SizePattern (the JSON Schema says
// the same as the loader).
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "10240", "1m", "1MiB", "10 KiB", "500kb", "1.5k", "-1k", "1.5", "1,024", " 1k", "12xb", "20EiB", "1e", "4.35k", "0.1b", "1 b", "١٢"} {
		f.Add(s)
	}
	re := regexp.MustCompile(SizePattern)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSize(s)
		if err != nil {
			if re.MatchString(s) && !strings.Contains(err.Error(), "too large") && !strings.Contains(err.Error(), "whole number of bytes") {
				t.Fatalf("ParseSize(%q) refused a string that matches SizePattern: %v", s, err)
			}
			return
		}
		if !re.MatchString(s) {
			t.Fatalf("ParseSize(%q) = %d but SizePattern does not match", s, got)
		}
		if got < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, got)
		}
		h, herr := humanize.ParseBytes(s)
		if herr != nil {
			t.Fatalf("ParseSize(%q) = %d but go-humanize refuses it: %v", s, got, herr)
		}
		// go-humanize multiplies fractions in float64 and truncates, so it
		// may be one byte short (or a few, for huge values).
		diff := int64(h) - int64(got)
		if !strings.Contains(s, ".") && diff != 0 || diff > 0 || diff < -int64(got/(1<<50))-1 {
			t.Fatalf("ParseSize(%q) = %d, go-humanize %d", s, got, h)
		}
	})
}
