package otlpwire

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxNesting bounds recursion through nested AnyValue arrays and maps, so a hostile body cannot
// exhaust the stack.
const maxNesting = 64

// DecodeError says what was wrong with a body in terms a client can act on: the field path and the
// byte offset.
type DecodeError struct {
	Path   []string // outermost first
	Offset int
	Reason string
	json   bool // a JSON error has no protobuf path or offset
}

func (e *DecodeError) Error() string {
	if e.json {
		return e.Reason
	}
	if len(e.Path) == 0 {
		return fmt.Sprintf("invalid protobuf at byte %d: %s", e.Offset, e.Reason)
	}
	return fmt.Sprintf("invalid protobuf in field %s at byte %d: %s", strings.Join(e.Path, "."), e.Offset, e.Reason)
}

func (e *DecodeError) within(field string, base int) *DecodeError {
	if field != "" {
		e.Path = append([]string{field}, e.Path...)
	}
	e.Offset += base
	return e
}

// recordStats accumulates what the block metadata needs while the walk validates the bytes.
type recordStats struct {
	records          int
	minTime, maxTime uint64
}

func (s *recordStats) observe(t uint64) {
	s.records++
	if t == 0 {
		return
	}
	if s.minTime == 0 || t < s.minTime {
		s.minTime = t
	}
	if t > s.maxTime {
		s.maxTime = t
	}
}

// recordTime says, for one message type that is a record of its signal, which fixed64 fields date
// it, in order of preference: the first non-zero one wins.
type recordTime map[protoreflect.FullName][]protoreflect.FieldNumber

// walk checks that b is a well-formed encoding of md: every known field has a wire type its kind
// allows, every nested message is itself well formed, strings are UTF-8. Unknown fields are only
// checked for framing, since they must be kept as sent. It also counts and dates the records.
func walk(md protoreflect.MessageDescriptor, b []byte, dating recordTime, stats *recordStats, depth int) *DecodeError {
	if depth > maxNesting {
		return &DecodeError{Reason: fmt.Sprintf("messages nested deeper than %d levels", maxNesting)}
	}
	timeFields, isRecord := dating[md.FullName()]
	var times [2]uint64
	fields := md.Fields()
	for pos := 0; pos < len(b); {
		num, typ, n := consumeTag(b[pos:])
		if n < 0 {
			return &DecodeError{Offset: pos, Reason: "bad field tag: " + protowire.ParseError(n).Error()}
		}
		start := pos
		pos += n
		fd := fields.ByNumber(num)
		if fd == nil {
			m := protowire.ConsumeFieldValue(num, typ, b[pos:])
			if m < 0 {
				return &DecodeError{Offset: start, Reason: fmt.Sprintf("unknown field %d: %v", num, protowire.ParseError(m))}
			}
			pos += m
			continue
		}
		m, err := checkField(fd, typ, b[pos:], dating, stats, depth)
		if err != nil {
			return err.within(string(fd.Name()), pos)
		}
		if isRecord && typ == protowire.Fixed64Type {
			for i, tf := range timeFields {
				if tf == num && i < len(times) {
					times[i], _ = protowire.ConsumeFixed64(b[pos:])
				}
			}
		}
		pos += m
	}
	if isRecord {
		t := times[0]
		if t == 0 {
			t = times[1]
		}
		stats.observe(t)
	}
	return nil
}

// checkField validates one field value (after its tag) and returns its length.
func checkField(fd protoreflect.FieldDescriptor, typ protowire.Type, b []byte, dating recordTime, stats *recordStats, depth int) (int, *DecodeError) {
	want := wireTypeOf(fd.Kind())
	if typ != want {
		if fd.IsList() && typ == protowire.BytesType && want != protowire.BytesType {
			return checkPacked(fd, b)
		}
		return 0, &DecodeError{Reason: fmt.Sprintf("wrong wire type %s for a %s field (want %s)", wireTypeName(typ), fd.Kind(), wireTypeName(want))}
	}
	n := protowire.ConsumeFieldValue(fd.Number(), typ, b)
	if n < 0 {
		return 0, &DecodeError{Reason: protowire.ParseError(n).Error()}
	}
	switch fd.Kind() {
	case protoreflect.MessageKind:
		v, _ := protowire.ConsumeBytes(b)
		if err := walk(fd.Message(), v, dating, stats, depth+1); err != nil {
			return 0, err.within("", n-len(v))
		}
	case protoreflect.StringKind:
		v, _ := protowire.ConsumeBytes(b)
		if !utf8.Valid(v) {
			return 0, &DecodeError{Reason: "string is not valid UTF-8"}
		}
	}
	return n, nil
}

// checkPacked validates a packed repeated scalar: a byte string holding only values of the
// element's wire type.
func checkPacked(fd protoreflect.FieldDescriptor, b []byte) (int, *DecodeError) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, &DecodeError{Reason: protowire.ParseError(n).Error()}
	}
	elem := wireTypeOf(fd.Kind())
	for pos := 0; pos < len(v); {
		m := protowire.ConsumeFieldValue(0, elem, v[pos:])
		if m < 0 {
			return 0, &DecodeError{Offset: pos, Reason: "packed " + fd.Kind().String() + " values are truncated"}
		}
		pos += m
	}
	return n, nil
}

// consumeTag is protowire.ConsumeTag that also refuses field numbers above the protobuf maximum,
// which protowire lets through and every protobuf decoder refuses.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}

func wireTypeOf(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind,
		protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return protowire.VarintType
	case protoreflect.Sfixed32Kind, protoreflect.Fixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Sfixed64Kind, protoreflect.Fixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.GroupKind:
		return protowire.StartGroupType
	}
	return protowire.BytesType
}

func wireTypeName(t protowire.Type) string {
	switch t {
	case protowire.VarintType:
		return "varint"
	case protowire.Fixed32Type:
		return "fixed32"
	case protowire.Fixed64Type:
		return "fixed64"
	case protowire.BytesType:
		return "length-delimited"
	case protowire.StartGroupType, protowire.EndGroupType:
		return "group"
	}
	return fmt.Sprintf("type %d", t)
}
