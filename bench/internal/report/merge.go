package report

import (
	"fmt"
	"strings"
)

// Merge returns old (a RESULTS.md) with every numbered section of fresh
// ("## 8. ...") put in: a section whose title line old has replaces that section, and one
// old lacks goes before old's "## Timeline" (or at the end). Everything
// else of old is kept, and a line under its first paragraph says which
// sections came later and from what command. It lets a run of some lanes
// (-only ... -merge) update their sections without dropping the others.
func Merge(old, fresh, command string) string {
	oldHead, oldSecs := sections(old)
	_, newSecs := sections(fresh)
	var titles []string
	for _, ns := range newSecs {
		// Only the numbered figures: the machine table and the subjects
		// stay those of the run the file came from.
		if len(ns.title) < 4 || ns.title[3] < '0' || ns.title[3] > '9' {
			continue
		}
		titles = append(titles, strings.TrimPrefix(ns.title, "## "))
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
	note := fmt.Sprintf("Sections %s were replaced by a later run, `%s`, as each one's Command line says; the machine table is of the first run.", strings.Join(titles, "; "), command)
	var b strings.Builder
	b.WriteString(withNote(oldHead, note))
	for _, s := range oldSecs {
		b.WriteString(s.title)
		b.WriteString("\n")
		b.WriteString(s.body)
	}
	return b.String()
}

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
		if !strings.HasPrefix(p, "Sections ") || !strings.Contains(p, "were replaced by a later run") {
			kept = append(kept, p)
		}
	}
	at := min(2, len(kept))
	kept = append(kept[:at], append([]string{note}, kept[at:]...)...)
	return strings.Join(kept, "\n\n")
}
