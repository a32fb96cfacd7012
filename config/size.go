package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
)

// Size is a number of bytes, such as a header size limit.
//
// A configuration file writes it as a whole number of bytes (10240) or as a
// string: a number, an optional single space and a unit, in upper or lower
// case ("10KiB", "10 KiB", "1m", "500kb", "1.5MB").
//
// The units follow go-humanize and Kubernetes: b is a byte; k, kb, m, mb,
// g, gb, t, tb, p, pb, e and eb are powers of 1000; ki, kib, mi, mib, gi,
// gib, ti, tib, pi, pib, ei and eib are powers of 1024. So "1m" is 1000000
// bytes and "1MiB" is 1048576 bytes. GoFrame read "1m" as 1048576: write
// "1MiB" to keep that value.
//
// A number with a fraction is accepted when it comes to a whole number of
// bytes: "1.5k" is 1500, but "1.5" and "0.1b" are refused. Negative sizes,
// digit separators ("1,024"), spaces before or after the value, unknown
// units and values above 9223372036854775807 bytes are refused.
type Size int64

// SizePattern is the regular expression, valid in Go and ECMAScript, that a
// size written as a string matches. Every string [ParseSize] accepts
// matches it; a matching string is still refused when it is not a whole
// number of bytes ("1.5") or is too large.
const SizePattern = `^(?:[0-9]+(?: ?[bB])?|[0-9]+(?:\.[0-9]+)? ?[kKmMgGtTpPeE][iI]?[bB]?)$`

// maxSize is the largest Size.
const maxSize = math.MaxInt64

// sizeForms says what a size may look like, for error messages.
const sizeForms = `a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`

var sizeRE = lazyRegexp(SizePattern)

// ParseSize parses a size written as a string, such as "10KiB" or "1m".
// See [Size] for the accepted forms.
func ParseSize(s string) (Size, error) {
	if err := sizeSyntax(s); err != nil {
		return 0, err
	}
	num, unit := splitSize(s)
	mult, err := humanize.ParseBytes("1" + unit)
	if err != nil {
		return 0, fmt.Errorf("%q has an unknown unit %q: use b, k, kb, ki, kib, m, mb, mi, mib and so on up to e and eib (k, m and g are powers of 1000; ki, mi and gi powers of 1024)", s, unit)
	}
	v, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%q is not a size: %s", s, sizeForms)
	}
	v.Mul(v, new(big.Rat).SetUint64(mult))
	if !v.IsInt() {
		return 0, fmt.Errorf("%q is not a whole number of bytes: %s", s, sizeForms)
	}
	if v.Num().Cmp(big.NewInt(maxSize)) > 0 {
		return 0, fmt.Errorf("%q is too large: the largest size is 9223372036854775807 bytes (8 EiB - 1)", s)
	}
	return Size(v.Num().Int64()), nil
}

// sizeSyntax explains why s does not have the shape of a size, or returns
// nil when it matches [SizePattern].
func sizeSyntax(s string) error {
	if sizeRE().MatchString(s) {
		return nil
	}
	switch {
	case s == "":
		return errors.New(`the size is empty: ` + sizeForms)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%q has a space before or after it: remove it", s)
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("%q is negative: a size is 0 or more bytes", s)
	case strings.Contains(s, ","):
		return commaSize(s)
	}
	num, unit := splitSize(s)
	if isDecimal(num) && (unit == "" || unit == "b" || unit == "B") {
		return fmt.Errorf("%q is not a whole number of bytes: %s", s, sizeForms)
	}
	if num != "" && unit != "" && strings.Trim(unit, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
		if _, err := humanize.ParseBytes("1" + unit); err != nil {
			return fmt.Errorf("%q has an unknown unit %q: use b, k, kb, ki, kib, m, mb, mi, mib and so on up to e and eib (k, m and g are powers of 1000; ki, mi and gi powers of 1024)", s, unit)
		}
	}
	return fmt.Errorf("%q is not a size: %s", s, sizeForms)
}

var (
	thousandsRE    = lazyRegexp(`^[0-9]{1,3}(?:,[0-9]{3})+`)
	decimalCommaRE = lazyRegexp(`^[0-9]+,[0-9]+`)
)

// commaSize explains a size written with a comma, which is either a digit
// separator ("1,024") or a decimal comma ("1,5mb").
func commaSize(s string) error {
	without := strings.ReplaceAll(s, ",", "")
	point := strings.Replace(s, ",", ".", 1)
	m := thousandsRE().FindString(s)
	if m != "" && !strings.Contains(s[len(m):], ",") {
		_, unit := splitSize(without)
		if unit != "" && unit != "b" && unit != "B" && strings.Count(s, ",") == 1 {
			if _, err := ParseSize(point); err == nil {
				return fmt.Errorf("%q has a comma: write %s if it separates thousands, or %s if it is a decimal comma", s, without, point)
			}
		}
		return fmt.Errorf("%q has a digit separator: write %s", s, without)
	}
	if m := decimalCommaRE().FindString(s); m != "" && !strings.Contains(s[len(m):], ",") {
		if v, err := ParseSize(point); err == nil {
			return fmt.Errorf("%q has a decimal comma: write %s (%d bytes)", s, point, int64(v))
		}
		num, _ := splitSize(point)
		return fmt.Errorf("%q has a decimal comma, and a size in bytes must be whole: write a whole number of bytes, or the fraction with a unit, such as %sk (%s bytes)", s, num, new(big.Rat).Mul(ratOf(num), big.NewRat(1000, 1)).FloatString(0))
	}
	return fmt.Errorf("%q has a comma: %s", s, sizeForms)
}

// ratOf reads a decimal number that splitSize cut out.
func ratOf(num string) *big.Rat {
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// splitSize cuts s into its number and its unit, dropping one space
// between them.
func splitSize(s string) (num, unit string) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit = s[:i], s[i:]
	return num, strings.TrimPrefix(unit, " ")
}

// isDecimal reports whether s is digits, a dot and digits.
func isDecimal(s string) bool {
	whole, frac, ok := strings.Cut(s, ".")
	return ok && isDigits(whole) && isDigits(frac)
}

// String returns the size in binary units as go-humanize writes it, such
// as "10 KiB". The text is rounded for sizes that are not a whole number
// of such units ("977 KiB" for 1000000); [Size.MarshalText] is exact.
func (s Size) String() string {
	if s < 0 {
		return strconv.FormatInt(int64(s), 10) + " B"
	}
	return humanize.IBytes(uint64(s))
}

// MarshalText writes the size so that [Size.UnmarshalText] reads back the
// same number: in the largest binary unit that divides it ("10KiB"), or
// in bytes.
func (s Size) MarshalText() ([]byte, error) {
	if s < 0 {
		return nil, fmt.Errorf("size %d is negative", int64(s))
	}
	units := []string{"EiB", "PiB", "TiB", "GiB", "MiB", "KiB"}
	for i, u := range units {
		m := int64(1) << (10 * (len(units) - i))
		if s != 0 && int64(s)%m == 0 {
			return []byte(strconv.FormatInt(int64(s)/m, 10) + u), nil
		}
	}
	return []byte(strconv.FormatInt(int64(s), 10)), nil
}

// UnmarshalText reads a size written as in a configuration file; see
// [ParseSize].
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
