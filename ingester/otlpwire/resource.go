package otlpwire

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// Field numbers of opentelemetry.proto.common.v1 and resource.v1 used by the identity scan.
const (
	resourceAttributesField = 1
	keyValueKeyField        = 1
	keyValueValueField      = 2
	anyValueString          = 1
	anyValueBool            = 2
	anyValueInt             = 3
	anyValueDouble          = 4
)

var identityIndex = func() map[string]int {
	m := make(map[string]int, len(layout.ProcessIdentityKeys))
	for i, k := range layout.ProcessIdentityKeys {
		m[k] = i
	}
	return m
}()

// ProcessID computes the process id of a validated Resource message by scanning only its
// attributes; it runs for every block, so it avoids decoding the resource.
func ProcessID(resource []byte) layout.UUID {
	var values [32]string
	identity := values[:len(layout.ProcessIdentityKeys)]
	forEachField(resource, func(num protowire.Number, typ protowire.Type, kv []byte) {
		if num != resourceAttributesField || typ != protowire.BytesType {
			return
		}
		var key string
		var value []byte
		forEachField(kv, func(num protowire.Number, typ protowire.Type, v []byte) {
			switch {
			case num == keyValueKeyField && typ == protowire.BytesType:
				key = string(v)
			case num == keyValueValueField && typ == protowire.BytesType:
				value = v
			}
		})
		if i, ok := identityIndex[key]; ok {
			identity[i] = anyValueText(value)
		}
	})
	return layout.ProcessID(func(key string) string { return identity[identityIndex[key]] })
}

// forEachField calls fn for each field of a validated message, with the value's payload: the
// bytes of a length-delimited field, or the encoded scalar otherwise.
func forEachField(b []byte, fn func(num protowire.Number, typ protowire.Type, value []byte)) {
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return
		}
		pos += n
		m := protowire.ConsumeFieldValue(num, typ, b[pos:])
		if m < 0 {
			return
		}
		value := b[pos : pos+m]
		if typ == protowire.BytesType {
			value, _ = protowire.ConsumeBytes(value)
		}
		fn(num, typ, value)
		pos += m
	}
}

// anyValueText renders an encoded AnyValue the way identity needs it: scalars as plain text,
// anything structured as JSON.
func anyValueText(encoded []byte) string {
	var text string
	simple := true
	forEachField(encoded, func(num protowire.Number, typ protowire.Type, v []byte) {
		switch {
		case num == anyValueString && typ == protowire.BytesType:
			text = string(v)
		case num == anyValueBool && typ == protowire.VarintType:
			x, _ := protowire.ConsumeVarint(v)
			text = strconv.FormatBool(x != 0)
		case num == anyValueInt && typ == protowire.VarintType:
			x, _ := protowire.ConsumeVarint(v)
			text = strconv.FormatInt(int64(x), 10)
		case num == anyValueDouble && typ == protowire.Fixed64Type:
			x, _ := protowire.ConsumeFixed64(v)
			text = strconv.FormatFloat(math.Float64frombits(x), 'g', -1, 64)
		default:
			simple = false
		}
	})
	if simple {
		return text
	}
	var av commonpb.AnyValue
	if proto.Unmarshal(encoded, &av) != nil {
		return ""
	}
	return string(AppendAnyValueJSON(nil, &av))
}

// AppendAnyValueJSON renders an AnyValue as compact JSON by its type: strings quoted, numbers
// exact (int64 is never rounded through float64), bytes as base64, arrays and maps nested, and an
// empty value as null.
func AppendAnyValueJSON(dst []byte, v *commonpb.AnyValue) []byte {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return AppendJSONString(dst, x.StringValue)
	case *commonpb.AnyValue_BoolValue:
		return strconv.AppendBool(dst, x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.AppendInt(dst, x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		f := x.DoubleValue
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return AppendJSONString(dst, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return AppendJSONString(dst, base64.StdEncoding.EncodeToString(x.BytesValue))
	case *commonpb.AnyValue_ArrayValue:
		dst = append(dst, '[')
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendAnyValueJSON(dst, e)
		}
		return append(dst, ']')
	case *commonpb.AnyValue_KvlistValue:
		dst = append(dst, '{')
		for i, kv := range x.KvlistValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, kv.GetKey())
			dst = append(dst, ':')
			dst = AppendAnyValueJSON(dst, kv.GetValue())
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

// AppendJSONString quotes s as a JSON string. strconv's \x escapes are not JSON, and
// encoding/json would also escape <, > and &, which readers of attribute maps do not want; invalid
// UTF-8 becomes \ufffd. The lakehouse reaches it through AppendAnyValueJSON, for the rows it
// loads as JSON.
func AppendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20:
				buf = append(buf, `\u00`...)
				buf = append(buf, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}

// ResourceAttributes renders the attributes of a Resource message for layout.NewProcessRecord, in
// the order sent. It decodes the resource, so it runs once per process, not once per block.
func ResourceAttributes(resource []byte) ([]layout.ResourceAttribute, error) {
	var res resourcepb.Resource
	if err := proto.Unmarshal(resource, &res); err != nil {
		return nil, err
	}
	attrs := make([]layout.ResourceAttribute, 0, len(res.GetAttributes()))
	for _, kv := range res.GetAttributes() {
		value := AppendAnyValueJSON(nil, kv.GetValue())
		text := string(value)
		if s, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok {
			text = s.StringValue
		}
		attrs = append(attrs, layout.ResourceAttribute{Key: kv.GetKey(), Text: text, JSON: value})
	}
	return attrs, nil
}
