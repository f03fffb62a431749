package main

import (
	"html"
	"regexp"
	"strings"
)

var (
	// Inline tags vanish; the others separate words.
	inlineTag = regexp.MustCompile(`</?(?:code|a|b|i|em|strong)(?:\s[^>]*)?>`)
	htmlTag   = regexp.MustCompile(`<[^>]*>`)
	spaces    = regexp.MustCompile(`\s+`)
)

// firstSentence returns the first sentence of a model's HTML documentation
// as plain text, or "" when there is none short enough to quote.
func firstSentence(doc string) string {
	t := html.UnescapeString(htmlTag.ReplaceAllString(inlineTag.ReplaceAllString(doc, ""), " "))
	t = strings.TrimSpace(spaces.ReplaceAllString(t, " "))
	if t == "" {
		return ""
	}
	for i := 0; i+2 < len(t); i++ {
		if t[i] != '.' || t[i+1] != ' ' {
			continue
		}
		word := t[strings.LastIndexByte(t[:i], ' ')+1 : i+1]
		if word == "e.g." || word == "i.e." || word == "etc." || word == "vs." {
			continue
		}
		if c := t[i+2]; c >= 'A' && c <= 'Z' {
			t = t[:i+1]
			break
		}
	}
	if len(t) > 400 {
		return ""
	}
	return t
}

// wrap splits s into lines of at most width bytes where it can.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
