package logs

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/apierror"
)

// The model's constraints on names, tags and limits.
var (
	groupNameRE = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]+$`)
	patternRE   = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]*$`)
	tagKeyRE    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValueRE  = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// MaxTags is how many tags a log group may have.
const MaxTags = 50

// retentionDays are the values PutRetentionPolicy accepts, as AWS lists
// them.
var retentionDays = []int32{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// validation builds AWS's "1 validation error detected" message.
func validation(member, value, constraint string) error {
	return apierror.InvalidParameter("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must %s",
		value, member, constraint)
}

func lengthError(member, value, bound string) error {
	return validation(member, value, "have length "+bound)
}

// checkGroupName checks a log group name: 1 to 512 characters of
// [.-_/#A-Za-z0-9].
func checkGroupName(member, name string) error {
	switch {
	case name == "":
		return lengthError(member, name, "greater than or equal to 1")
	case len(name) > 512:
		return lengthError(member, name, "less than or equal to 512")
	case !groupNameRE.MatchString(name):
		return validation(member, name, `satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+`)
	}
	return nil
}

// checkStreamName checks a log stream name: 1 to 512 characters, no ':'
// or '*'.
func checkStreamName(member, name string) error {
	switch {
	case name == "":
		return lengthError(member, name, "greater than or equal to 1")
	case utf8.RuneCountInString(name) > 512:
		return lengthError(member, name, "less than or equal to 512")
	case strings.ContainsAny(name, ":*"):
		return validation(member, name, "satisfy regular expression pattern: [^:*]*")
	case strings.IndexByte(name, 0) >= 0:
		return validation(member, name, "not contain NUL characters")
	}
	return nil
}

// checkLimit checks an optional limit against [1, max].
func checkLimit(limit *int32, max int32) error {
	if limit == nil {
		return nil
	}
	if *limit < 1 {
		return validation("limit", fmt.Sprint(*limit), "have value greater than or equal to 1")
	}
	if *limit > max {
		return validation("limit", fmt.Sprint(*limit), fmt.Sprintf("have value less than or equal to %d", max))
	}
	return nil
}

// checkTags checks a tag map: 1 to 50 tags with valid keys and values.
func checkTags(member string, tags map[string]string) error {
	if len(tags) > MaxTags {
		return validation(member, "{...}", "have length less than or equal to 50")
	}
	for k, v := range tags {
		if err := checkTagKey(member+".key", k); err != nil {
			return err
		}
		if utf8.RuneCountInString(v) > 256 {
			return lengthError(member+".value", v, "less than or equal to 256")
		}
		if !tagValueRE.MatchString(v) {
			return validation(member+".value", v, `satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
		}
	}
	return nil
}

func checkTagKey(member, k string) error {
	if k == "" || utf8.RuneCountInString(k) > 128 {
		return lengthError(member, k, "less than or equal to 128 and greater than or equal to 1")
	}
	if !tagKeyRE.MatchString(k) {
		return validation(member, k, `satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]+)$`)
	}
	if strings.HasPrefix(k, "aws:") {
		return invalidParameter("Tag keys cannot start with the reserved prefix aws:")
	}
	return nil
}

// checkTime checks an optional timestamp (ms, at least 0).
func checkTime(member string, t *int64) error {
	if t != nil && *t < 0 {
		return validation(member, fmt.Sprint(*t), "have value greater than or equal to 0")
	}
	return nil
}
