package filterpattern

import "unsafe"

// bytesString views b as a string without copying. The caller must not
// change b while the string is in use; the package uses it only for
// unescaped JSON text in scratch memory, compared and then dropped before
// the buffer is reused.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
