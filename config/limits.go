package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/gracekit/gracekit/internal/docpos"
)

// The limits [Load] and [ParseDocument] hold every configuration document
// to, so that a file that is wrong by mistake or on purpose costs bounded
// time and memory: every restart reads the file again, and a bad file
// must not take the host's memory. Within them, reading a file takes time
// and memory in proportion to its size, whatever its shape.
const (
	// MaxFileSize is the size of the largest configuration file, 128 KiB:
	// thousands of lines. A larger file is refused before it is parsed.
	MaxFileSize = 128 << 10

	// MaxDepth is the longest key path in a file: a top-level key has a
	// path of 1, a key inside it 2, and an item of a list counts as one
	// more.
	MaxDepth = 32

	// MaxKeys is the most keys one mapping (a YAML mapping, a JSON object,
	// a TOML table) may hold. The items of a list are not counted.
	MaxKeys = 1000

	// MaxAliasValues is the most values that YAML aliases ("*base") and
	// merge keys ("<<: *base") may repeat in one file, beyond those it
	// writes out.
	MaxAliasValues = 10000

	// MaxProblems is the most problems an *[Error] lists; it counts the
	// others in Omitted.
	MaxProblems = 50
)

// limits are the limits in force, the constants above unless a test
// says otherwise.
type limits struct {
	fileSize int
	doc      docpos.Limits
	wait     time.Duration // for a file that is not a regular one (pipeWait)
}

func defaultLimits() limits {
	return limits{
		fileSize: MaxFileSize,
		doc:      docpos.Limits{Depth: MaxDepth, Keys: MaxKeys, Aliases: MaxAliasValues},
		wait:     pipeWait,
	}
}

// withLimits replaces the limits, for benchmarks that measure how the
// loader scales beyond them.
func withLimits(l limits) Option {
	return func(o *options) { o.limits = l }
}

// errTooLarge is returned by readLimited for a file above the limit.
var errTooLarge = errors.New("too large")

// pipeWait bounds how long a named pipe, a terminal or another file that
// is not a regular one may take to give its whole content: a writer that
// started and does not finish, a terminal nobody types an end of file at.
const pipeWait = 10 * time.Second

// readLimited reads the file at path, refusing one larger than max bytes
// without reading more than max+1 of them.
//
// A named pipe (a FIFO, or a shell's process substitution) is read too,
// within pipeWait; one that no process writes to is an error at once.
// Opening it the usual way would wait for a writer for ever. A terminal,
// a socket or a device is read within pipeWait too (where the system can
// wait on it with a deadline: not a special file of /proc such as
// /proc/kmsg, which reads as a regular one).
func readLimited(path string, max int, wait time.Duration) ([]byte, int64, error) {
	// Opened without waiting, so that the kind of file is told from the
	// descriptor itself: a path that changes between a stat and the open
	// cannot make the open wait on a pipe.
	f, err := os.OpenFile(path, os.O_RDONLY|openNoWait, 0)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	size, pipe, regular := int64(-1), false, true
	if fi, err := f.Stat(); err == nil {
		pipe, regular = fi.Mode()&fs.ModeNamedPipe != 0, fi.Mode().IsRegular()
		if regular {
			size = fi.Size()
			if size > int64(max) {
				return nil, size, errTooLarge
			}
		}
	}
	if !regular {
		_ = f.SetReadDeadline(time.Now().Add(wait))
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	switch {
	case pipe && errors.Is(err, os.ErrDeadlineExceeded):
		return nil, size, fmt.Errorf("%s is a named pipe whose writer did not finish within %s", path, wait)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, size, fmt.Errorf("%s is not a regular file (a terminal, a socket or a device) and did not come to its end within %s: name a file", path, wait)
	case err != nil:
		return nil, size, err
	case pipe && len(data) == 0:
		// Without waiting, a pipe that no process holds open for writing
		// reads as empty at once.
		return nil, size, fmt.Errorf("%s is a named pipe that gave nothing: no process writes to it, or its writer wrote nothing", path)
	case len(data) > max:
		return nil, size, errTooLarge
	}
	return data, int64(len(data)), nil
}

// tooLarge says that a file of size bytes (-1 when unknown) is above the
// limit.
func tooLarge(size int64, max int) string {
	what := "the file is larger than"
	if size >= 0 {
		what = fmt.Sprintf("the file is %s (%d bytes), larger than", humanize.IBytes(uint64(size)), size)
	}
	return fmt.Sprintf("%s the limit of %s (config.MaxFileSize): a configuration file holds settings, not data; split it, or move the data to a file of its own", what, humanize.IBytes(uint64(max)))
}

// exceeded words a broken shape limit.
func exceeded(e *docpos.Exceeded, format string) string {
	where := "the top level"
	if len(e.Path) > 0 {
		where = displayKey(indexPath(e.Path))
	}
	switch e.Limit {
	case "depth":
		return fmt.Sprintf("the document nests deeper than %d levels (config.MaxDepth) under %s: configuration keys are a few levels deep", e.Max, where)
	case "keys":
		return fmt.Sprintf("the %s at %s holds more than %d keys (config.MaxKeys): a section of a configuration file holds a few of them", mappingWord(format), where, e.Max)
	}
	return fmt.Sprintf("the document breaks the %s limit of %d", e.Limit, e.Max)
}

// mappingWord names a mapping in a format's own words.
func mappingWord(format string) string {
	switch format {
	case "json":
		return "object"
	case "toml":
		return "table"
	}
	return "mapping"
}

// indexPath turns a docpos path, whose list indices are bare numbers,
// into a loader path with "[i]" indices. A key that is all digits inside
// a mapping is rare enough to be shown as an index too.
func indexPath(path []string) []string {
	out := make([]string, len(path))
	for i, p := range path {
		if i > 0 && isDigits(p) {
			p = "[" + p + "]"
		}
		out[i] = p
	}
	return out
}

// duplicateMessage words a key written more than once in one mapping,
// with the lines (line:column when they share a line) where it is.
func duplicateMessage(d docpos.Dup, format string) string {
	key := d.Path[len(d.Path)-1]
	at := func(p docpos.Pos) string { return fmt.Sprint(p.Line) }
	if len(d.Again) > 0 && d.Again[0].Line == d.First.Line {
		at = func(p docpos.Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }
	}
	lines := []string{at(d.First)}
	for _, p := range d.Again {
		lines = append(lines, at(p))
	}
	if more := d.Count - 1 - len(d.Again); more > 0 {
		lines = append(lines, fmt.Sprintf("%d more", more))
	}
	times := "twice"
	if d.Count > 2 {
		times = fmt.Sprintf("%d times", d.Count)
	}
	return fmt.Sprintf("the key %q is written %s in the same %s (lines %s): keep one", key, times, mappingWord(format), andList(lines))
}

// trimNewline removes one trailing line ending of the content of a file
// that holds a value, and a byte order mark before it.
func trimNewline(s string) string {
	s = strings.TrimPrefix(s, "\ufeff") // the byte order mark some editors write first
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// andList joins words as "a, b and c".
func andList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// lazyRegexp compiles pattern the first time it is needed: most of the
// package's expressions serve only some values or some error messages,
// and compiling them all at package initialization would put them on
// every program's start, and on a new generation's path to ready.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
