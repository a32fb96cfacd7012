package config

import (
	"encoding"
	"flag"
	"fmt"
	"reflect"
	"strings"

	"github.com/spf13/pflag"
)

// AddFlags registers a pflag flag for every key of cfg (a struct or a
// pointer to one, such as [Default] or a type that embeds [Config]), named
// after the key path (--server.maxHeaderBytes), with the key's value in
// cfg as the default shown in the help and usage[path] as the help text
// (the key's kind when usage has none). [schema.Descriptions] gives the doc
// comments of the generated schema for usage. Boolean keys take
// --key=false, and --key alone for true.
//
// The flags hold text, which [Load] reads with [WithFlags] as it reads
// environment variables: a wrong value is a problem that names the flag.
// Setting them changes nothing in cfg. A flag that fs already has is left
// alone, so a program can register some keys its own way. A setting
// tagged secret (see [SecretTag]) gets no flag: every user of the machine
// can read a command line.
func AddFlags(fs *pflag.FlagSet, cfg any, usage map[string]string) error {
	return addFlags(cfg, usage, func(name, text string, v *keyFlag) {
		if fs.Lookup(name) != nil {
			return
		}
		f := fs.VarPF(v, name, "", text)
		if v.isBool {
			f.NoOptDefVal = "true"
		}
	})
}

// AddGoFlags is [AddFlags] for a FlagSet of the standard flag package
// (-server.maxHeaderBytes 1MiB); [Load] reads them with [WithGoFlags].
// The help names each flag's kind, such as "-server.readTimeout duration".
func AddGoFlags(fs *flag.FlagSet, cfg any, usage map[string]string) error {
	return addFlags(cfg, usage, func(name, text string, v *keyFlag) {
		if fs.Lookup(name) != nil {
			return
		}
		if !v.isBool {
			text += " (a `" + v.kind + "`)"
		}
		fs.Var(v, name, text)
	})
}

func addFlags(cfg any, usage map[string]string, register func(name, text string, v *keyFlag)) error {
	root := reflect.Indirect(reflect.ValueOf(cfg))
	if root.Kind() != reflect.Struct {
		return fmt.Errorf("config: AddFlags needs a struct, got %T", cfg)
	}
	model, err := buildModel(root.Type())
	if err != nil {
		return err
	}
	model.leaves(func(n *node) {
		if n.secret {
			return // a command line is visible to every user of the machine
		}
		v := &keyFlag{kind: flagKind(n), isBool: n.kind == kindBool, text: flagText(n, fieldValue(root, n, model))}
		text := strings.ReplaceAll(usage[n.dotted()], "`", "'")
		if text == "" {
			text = kindName(n)
		}
		register(n.dotted(), text, v)
	})
	return nil
}

// keyFlag is the value of a flag registered by AddFlags: the text given
// on the command line, which Load converts as the key's kind demands.
type keyFlag struct {
	kind   string
	text   string
	isBool bool
}

func (f *keyFlag) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

func (f *keyFlag) Set(s string) error { f.text = s; return nil }

// Type names the kind of value in pflag's help.
func (f *keyFlag) Type() string { return f.kind }

// IsBoolFlag lets -key stand for -key=true in the flag package.
func (f *keyFlag) IsBoolFlag() bool { return f.isBool }

// flagKind names a key's kind in one word, for the help.
func flagKind(n *node) string {
	switch n.kind {
	case kindBool:
		return "bool"
	case kindInt:
		return "int"
	case kindUint:
		return "uint"
	case kindFloat:
		return "float"
	case kindList:
		return flagKind(n.elem) + "s"
	case kindSize:
		return "size"
	case kindDuration:
		return "duration"
	}
	return "string"
}

// flagText writes a value as a flag takes it: sizes in the largest exact
// binary unit, durations as Go writes them, lists comma-separated.
func flagText(n *node, v reflect.Value) string {
	switch n.kind {
	case kindSize:
		b, err := Size(v.Int()).MarshalText()
		if err != nil {
			return fmt.Sprint(v.Int())
		}
		return string(b)
	case kindList:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = flagText(n.elem, v.Index(i))
		}
		return strings.Join(items, ",")
	case kindText:
		if m, ok := v.Interface().(encoding.TextMarshaler); ok {
			if b, err := m.MarshalText(); err == nil {
				return string(b)
			}
		}
	}
	return fmt.Sprint(fileValue(n, v))
}
