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

// msgPlan is a message type compiled for walk: its fields indexed by number, so that checking a
// field on the hot path costs an index, not descriptor and map lookups.
type msgPlan struct {
	fields []fieldPlan // by field number; a zero fieldPlan is a field the schema does not know
	// dating lists the fixed64 fields that date a record of this type; nil when it is no record.
	dating []protowire.Number
}

type fieldPlan struct {
	known bool
	name  string
	kind  protoreflect.Kind
	wire  protowire.Type // the wire type of its kind
	list  bool
	msg   *msgPlan // of a message field
}

// compilePlan compiles md and every message type it reaches; plans holds those compiled so far, so
// that recursive types (AnyValue in ArrayValue in AnyValue) share one plan.
func compilePlan(md protoreflect.MessageDescriptor, dating recordTime, plans map[protoreflect.FullName]*msgPlan) *msgPlan {
	if p, ok := plans[md.FullName()]; ok {
		return p
	}
	p := &msgPlan{}
	plans[md.FullName()] = p
	if nums, ok := dating[md.FullName()]; ok {
		p.dating = make([]protowire.Number, 0, len(nums))
		for _, n := range nums {
			p.dating = append(p.dating, protowire.Number(n))
		}
	}
	fields := md.Fields()
	maxNum := 0
	for i := range fields.Len() {
		maxNum = max(maxNum, int(fields.Get(i).Number()))
	}
	p.fields = make([]fieldPlan, maxNum+1)
	for i := range fields.Len() {
		fd := fields.Get(i)
		fp := fieldPlan{known: true, name: string(fd.Name()), kind: fd.Kind(), wire: wireTypeOf(fd.Kind()), list: fd.IsList()}
		if fd.Kind() == protoreflect.MessageKind {
			fp.msg = compilePlan(fd.Message(), dating, plans)
		}
		p.fields[fd.Number()] = fp
	}
	return p
}

// walk checks that b is a well-formed encoding of p's message: every known field has a wire type
// its kind allows, every nested message is itself well formed, strings are UTF-8. Unknown fields
// are only checked for framing, since they must be kept as sent. It also counts and dates the
// records.
func walk(p *msgPlan, b []byte, stats *recordStats, depth int) *DecodeError {
	if depth > maxNesting {
		return &DecodeError{Reason: fmt.Sprintf("messages nested deeper than %d levels", maxNesting)}
	}
	var times [2]uint64
	for pos := 0; pos < len(b); {
		num, typ, n := consumeTag(b[pos:])
		if n < 0 {
			return &DecodeError{Offset: pos, Reason: "bad field tag: " + protowire.ParseError(n).Error()}
		}
		start := pos
		pos += n
		if int(num) >= len(p.fields) || !p.fields[num].known {
			m := protowire.ConsumeFieldValue(num, typ, b[pos:])
			if m < 0 {
				return &DecodeError{Offset: start, Reason: fmt.Sprintf("unknown field %d: %v", num, protowire.ParseError(m))}
			}
			pos += m
			continue
		}
		fp := &p.fields[num]
		m, err := checkField(fp, num, typ, b[pos:], stats, depth)
		if err != nil {
			return err.within(fp.name, pos)
		}
		if p.dating != nil && typ == protowire.Fixed64Type {
			for i, tf := range p.dating {
				if tf == num && i < len(times) {
					times[i], _ = protowire.ConsumeFixed64(b[pos:])
				}
			}
		}
		pos += m
	}
	if p.dating != nil {
		t := times[0]
		if t == 0 {
			t = times[1]
		}
		stats.observe(t)
	}
	return nil
}

// checkField validates one field value (after its tag) and returns its length.
func checkField(fp *fieldPlan, num protowire.Number, typ protowire.Type, b []byte, stats *recordStats, depth int) (int, *DecodeError) {
	if typ != fp.wire {
		if fp.list && typ == protowire.BytesType && fp.wire != protowire.BytesType {
			return checkPacked(fp, b)
		}
		return 0, &DecodeError{Reason: fmt.Sprintf("wrong wire type %s for a %s field (want %s)", wireTypeName(typ), fp.kind, wireTypeName(fp.wire))}
	}
	if typ != protowire.BytesType {
		n := protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, &DecodeError{Reason: protowire.ParseError(n).Error()}
		}
		return n, nil
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, &DecodeError{Reason: protowire.ParseError(n).Error()}
	}
	switch fp.kind {
	case protoreflect.MessageKind:
		if err := walk(fp.msg, v, stats, depth+1); err != nil {
			return 0, err.within("", n-len(v))
		}
	case protoreflect.StringKind:
		if !utf8.Valid(v) {
			return 0, &DecodeError{Reason: "string is not valid UTF-8"}
		}
	}
	return n, nil
}

// checkPacked validates a packed repeated scalar: a byte string holding only values of the
// element's wire type.
func checkPacked(fp *fieldPlan, b []byte) (int, *DecodeError) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, &DecodeError{Reason: protowire.ParseError(n).Error()}
	}
	elem := fp.wire
	for pos := 0; pos < len(v); {
		m := protowire.ConsumeFieldValue(0, elem, v[pos:])
		if m < 0 {
			return 0, &DecodeError{Offset: pos, Reason: "packed " + fp.kind.String() + " values are truncated"}
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
