package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// secretKeys returns the dotted paths of the settings tagged secret.
func secretKeys(model *node) map[string]bool {
	out := map[string]bool{}
	model.leaves(func(n *node) {
		if n.secret {
			out[n.dotted()] = true
		}
	})
	return out
}

// secretTexts returns the text of the secret settings in data, a nested
// map as a source gives it.
func secretTexts(model *node, data map[string]any) []string {
	return textsOf(model, data, func(n *node) bool { return n.secret })
}

// fileValueTexts returns the text of the values layer l read from the
// files _FILE variables name: such a file may hold a secret, whatever the
// setting, so its content stays out of problems too.
func fileValueTexts(model *node, l *layer) []string {
	if len(l.valueFiles) == 0 {
		return nil
	}
	return textsOf(model, l.data, func(n *node) bool { _, ok := l.valueFiles[leafKey(n.path)]; return ok })
}

// textsOf returns the text of the settings of data that want picks.
func textsOf(model *node, data map[string]any, want func(*node) bool) []string {
	var out []string
	model.leaves(func(n *node) {
		if !want(n) {
			return
		}
		var v any = data
		for _, k := range n.path {
			m, _ := stringMap(v)
			if v = m[k]; v == nil {
				return
			}
		}
		out = appendTexts(out, v)
	})
	return out
}

// secretTextsOf returns the text of the secret settings in root, the
// value of the configuration struct.
func secretTextsOf(model *node, root reflect.Value) []string {
	var out []string
	model.leaves(func(n *node) {
		if n.secret {
			out = appendTexts(out, fileValue(n, fieldValue(root, n, model)))
		}
	})
	return out
}

func appendTexts(out []string, v any) []string {
	switch v := v.(type) {
	case string:
		if v != "" {
			out = append(out, v)
		}
	case []any:
		for _, x := range v {
			out = appendTexts(out, x)
		}
	}
	return out
}

// minScrubbed is the shortest secret that scrub removes from messages
// where it is not quoted: a shorter one is likely to be a word of the
// message itself.
const minScrubbed = 6

// scrub removes the secret texts from the problems' messages and values,
// wherever a rule of the program may have quoted them.
func (ps *problems) scrub(texts []string) {
	if len(texts) == 0 {
		return
	}
	pairs := make([]string, 0, 4*len(texts))
	for _, s := range texts {
		pairs = append(pairs, strconv.Quote(s), "(secret)")
	}
	for _, s := range texts {
		if len(s) >= minScrubbed {
			pairs = append(pairs, s, "(secret)")
		}
	}
	r := strings.NewReplacer(pairs...)
	for i := range ps.list {
		ps.list[i].Message = r.Replace(ps.list[i].Message)
		ps.list[i].Value = r.Replace(ps.list[i].Value)
	}
}

// redact words a problem about a secret value without the value.
func redact(msg string, value any) string {
	switch value.(type) {
	case nil, map[string]any, map[any]any, []any:
		return msg // the message names the type, not the content
	}
	shown := show(value)
	if shown == "" {
		return msg
	}
	if strings.HasPrefix(msg, shown+" ") {
		return "the value " + strings.TrimPrefix(msg, shown+" ")
	}
	return strings.ReplaceAll(msg, shown, "the value")
}

// hideSecretLines rewords the problems of a file that could not be parsed
// whose line holds a secret setting (its key, then a colon or an equals
// sign): a parser's message quotes the text around the error, which is
// the secret's value there. data is the file.
func hideSecretLines(model *node, data []byte, ps []Problem) {
	var secrets []string
	model.leaves(func(n *node) {
		if n.secret {
			secrets = append(secrets, n.key)
		}
	})
	if len(secrets) == 0 || len(data) == 0 {
		return
	}
	lines := bytes.Split(data, []byte("\n"))
	for i := range ps {
		p := &ps[i]
		if p.Line <= 0 || p.Line > len(lines) {
			continue
		}
		line := strings.TrimLeft(string(lines[p.Line-1]), " \t-")
		for _, key := range secrets {
			rest, ok := strings.CutPrefix(strings.Trim(line[:max(strings.IndexAny(line, ":="), 0)], ` "'`), key)
			if ok && rest == "" && strings.ContainsAny(line, ":=") {
				p.Message = fmt.Sprintf("the file cannot be parsed on the line of %s, a secret setting (the parser's own message would show its value): check how the value is written, and quote it", key)
				break
			}
		}
	}
}
