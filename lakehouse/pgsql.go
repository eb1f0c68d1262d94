//go:build cgo

package lakehouse

import (
	"strings"
	"unicode"
)

// The wire-protocol server reads the statements clients send just enough to route them: where
// one statement ends, its first keyword, the tables it names, its parameters ($1) and its
// predicates on time. sqlToken is one lexical token of that reading; DuckDB parses for real.

type tokenKind int

const (
	tokWord   tokenKind = iota // keyword or bare identifier
	tokQuoted                  // "quoted identifier"
	tokString                  // 'string literal', E'…' and $$dollar$$ included
	tokNumber
	tokParam // $1
	tokOp    // operators and punctuation, one token per run of operator characters
	tokSpace // whitespace and comments: kept so that a statement can be rebuilt as sent
)

type sqlToken struct {
	kind tokenKind
	text string // as written
}

// value is a token's meaning: a word lower-cased, a quoted identifier or string unquoted.
func (t sqlToken) value() string {
	switch t.kind {
	case tokWord:
		return strings.ToLower(t.text)
	case tokQuoted:
		return strings.ReplaceAll(t.text[1:len(t.text)-1], `""`, `"`)
	case tokString:
		return stringLiteralValue(t.text)
	}
	return t.text
}

func (t sqlToken) is(word string) bool { return t.kind == tokWord && strings.EqualFold(t.text, word) }

func stringLiteralValue(s string) string {
	if strings.HasPrefix(s, "$") {
		tag := s[:strings.IndexByte(s[1:], '$')+2]
		return s[len(tag) : len(s)-len(tag)]
	}
	escape := false
	if s[0] == 'E' || s[0] == 'e' {
		escape, s = true, s[1:]
	}
	body := s[1 : len(s)-1]
	if !escape {
		return strings.ReplaceAll(body, "''", "'")
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\'' && i+1 < len(body) && body[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == '\\' && i+1 < len(body):
			i++
			switch body[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(body[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// lexSQL splits SQL into tokens. It never fails: an unterminated literal or comment runs to the
// end, and DuckDB reports the error when the statement runs.
func lexSQL(s string) []sqlToken {
	var out []sqlToken
	i := 0
	emit := func(kind tokenKind, end int) {
		out = append(out, sqlToken{kind: kind, text: s[i:end]})
		i = end
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				end = len(s) - i
			}
			emit(tokSpace, i+end)
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				emit(tokSpace, len(s))
			} else {
				emit(tokSpace, i+2+end+2)
			}
		case unicode.IsSpace(rune(c)):
			j := i
			for j < len(s) && unicode.IsSpace(rune(s[j])) {
				j++
			}
			emit(tokSpace, j)
		case c == '\'' || ((c == 'E' || c == 'e') && i+1 < len(s) && s[i+1] == '\''):
			start := i
			if c != '\'' {
				start++
			}
			emit(tokString, quotedEnd(s, start, '\'', c != '\''))
		case c == '"':
			emit(tokQuoted, quotedEnd(s, i, '"', false))
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			emit(tokParam, j)
		case c == '$':
			// A dollar-quoted string: $tag$ … $tag$.
			j := i + 1
			for j < len(s) && (isWordByte(s[j]) && !(s[j] >= '0' && s[j] <= '9' && j == i+1)) {
				j++
			}
			if j < len(s) && s[j] == '$' {
				tag := s[i : j+1]
				end := strings.Index(s[j+1:], tag)
				if end < 0 {
					emit(tokString, len(s))
				} else {
					emit(tokString, j+1+end+len(tag))
				}
			} else {
				emit(tokOp, i+1)
			}
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'):
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == '_' ||
				s[j] == 'e' || s[j] == 'E' || ((s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			emit(tokNumber, j)
		case isWordByte(c):
			j := i
			for j < len(s) && (isWordByte(s[j]) || s[j] == '$') {
				j++
			}
			emit(tokWord, j)
		case strings.ContainsRune("(),;[]{}.", rune(c)):
			emit(tokOp, i+1)
		default:
			j := i
			for j < len(s) && strings.ContainsRune("+-*/<>=~!@#%^&|`?:", rune(s[j])) {
				if j > i && (strings.HasPrefix(s[j:], "--") || strings.HasPrefix(s[j:], "/*")) {
					break
				}
				j++
			}
			if j == i {
				j++
			}
			emit(tokOp, j)
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// quotedEnd is the end of a literal that opens at s[start] with q; a doubled q is the quote
// itself, and with backslashes set a backslash escapes the next byte.
func quotedEnd(s string, start int, q byte, backslashes bool) int {
	for j := start + 1; j < len(s); j++ {
		switch {
		case backslashes && s[j] == '\\':
			j++
		case s[j] == q && j+1 < len(s) && s[j+1] == q:
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}

// joinTokens rebuilds SQL text from tokens.
func joinTokens(toks []sqlToken) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(t.text)
	}
	return b.String()
}

// splitStatements cuts a simple Query's text at its top-level semicolons; empty statements are
// dropped (psql sends "SELECT 1;"), as PostgreSQL does.
func splitStatements(s string) [][]sqlToken {
	var out [][]sqlToken
	var cur []sqlToken
	depth := 0
	flush := func() {
		if meaningful(cur) != nil {
			out = append(out, cur)
		}
		cur = nil
	}
	for _, t := range lexSQL(s) {
		if t.kind == tokOp {
			switch t.text {
			case "(":
				depth++
			case ")":
				depth--
			case ";":
				if depth <= 0 {
					flush()
					continue
				}
			}
		}
		cur = append(cur, t)
	}
	flush()
	return out
}

// meaningful drops whitespace and comments.
func meaningful(toks []sqlToken) []sqlToken {
	var out []sqlToken
	for _, t := range toks {
		if t.kind != tokSpace {
			out = append(out, t)
		}
	}
	return out
}

// firstKeyword is a statement's first word, lower-cased, past any opening parentheses.
func firstKeyword(toks []sqlToken) string {
	for _, t := range toks {
		switch {
		case t.kind == tokSpace || t.kind == tokOp && t.text == "(":
			continue
		case t.kind == tokWord:
			return t.value()
		}
		return ""
	}
	return ""
}
