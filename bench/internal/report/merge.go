package report

import (
	"fmt"
	"strings"
)

// Merge returns old (a RESULTS.md) with every numbered section of fresh
// ("## 8. ...") put in: a section whose title line old has replaces that section, and one
// old lacks goes before old's "## Timeline" (or at the end). Everything
// else of old is kept, and a paragraph under its first one (mergeNote)
// says that sections with a Command line come from a later run. It lets a run of some lanes
// (-only ... -merge) update their sections without dropping the others.
func Merge(old, fresh, command string) string {
	oldHead, oldSecs := sections(old)
	_, newSecs := sections(fresh)
	for _, ns := range newSecs {
		// Only the numbered figures: the machine table and the subjects
		// stay those of the run the file came from.
		if len(ns.title) < 4 || ns.title[3] < '0' || ns.title[3] > '9' {
			continue
		}
		replaced := false
		for i := range oldSecs {
			if oldSecs[i].title == ns.title {
				oldSecs[i].body, replaced = ns.body, true
				break
			}
		}
		if replaced {
			continue
		}
		at := len(oldSecs)
		for i, s := range oldSecs {
			if s.title == "## Timeline" || s.title == "## Notes" {
				at = i
				break
			}
		}
		oldSecs = append(oldSecs[:at], append([]section{ns}, oldSecs[at:]...)...)
	}
	note := mergeNote + fmt.Sprintf(" The latest such run was `%s`.", command)
	var b strings.Builder
	b.WriteString(withNote(oldHead, note))
	for _, s := range oldSecs {
		b.WriteString(s.title)
		b.WriteString("\n")
		b.WriteString(s.body)
	}
	return b.String()
}

// mergeNote starts the paragraph Merge adds under the file's first one.
const mergeNote = "Sections that start with a Command line come from that command's run, not from the run named above; the machine table and the subjects are those of the run above."

type section struct {
	title string // "## ..." line, without its newline
	body  string // the lines after it, up to the next section
}

// sections splits Markdown at its "## " lines: the text before the
// first, and each section.
func sections(md string) (string, []section) {
	lines := strings.SplitAfter(md, "\n")
	var head strings.Builder
	var out []section
	for _, l := range lines {
		if strings.HasPrefix(l, "## ") {
			out = append(out, section{title: strings.TrimRight(l, "\n")})
			continue
		}
		if len(out) == 0 {
			head.WriteString(l)
		} else {
			out[len(out)-1].body += l
		}
	}
	return head.String(), out
}

// withNote puts note as a paragraph after the first paragraph of head
// that follows the title, replacing a note an earlier merge left.
func withNote(head, note string) string {
	paras := strings.Split(head, "\n\n")
	var kept []string
	for _, p := range paras {
		if !strings.HasPrefix(p, mergeNote) {
			kept = append(kept, p)
		}
	}
	at := min(2, len(kept))
	kept = append(kept[:at], append([]string{note}, kept[at:]...)...)
	return strings.Join(kept, "\n\n")
}
