// Package taskres owns the reading of a task's cpu and memory sizes as ECS
// accepts them in a task definition or a task override, shared by the
// server (validation, placement) and the agent (container limits), so both
// always agree on what a task definition asks for. It is pure: it imports
// nothing of Gantry's.
//
// The rule: cpu is CPU units ("1024") or vCPUs ("1 vCPU", "0.5 vcpu"),
// 1,024 units to a vCPU; memory is MiB ("512", "512 MiB", "512 MB") or GiB
// ("2 GB", "2GB", "0.5 GiB"), 1,024 MiB to a GiB. Units are
// case-insensitive and may follow the number with or without spaces. The
// number is a plain non-negative decimal (no sign, no exponent), read
// exactly. Nothing is rounded: a value that is not a whole number of CPU
// units or MiB ("0.3 GB" is 307.2 MiB, "1.5" MiB) is invalid, as
// RegisterTaskDefinition already decided.
package taskres

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// ErrInvalid is wrapped by every error ParseCPU and ParseMemory return.
var ErrInvalid = errors.New("invalid task size")

// UnitsPerVCPU is the number of CPU units in one vCPU.
const UnitsPerVCPU = 1024

// MiBPerGiB is the number of MiB in one GiB (ECS's "GB").
const MiBPerGiB = 1024

// Max is the largest value either parser returns: ECS's sizes are 32-bit.
const Max = math.MaxInt32

// ParseCPU returns the CPU units of a task-level cpu value: "1024",
// "1 vCPU", "0.25 vcpu". Errors wrap ErrInvalid: a malformed value, an
// unknown unit, a result above Max or with a fraction of a unit.
func ParseCPU(s string) (int64, error) {
	v, err := parse(s, func(unit string) (int64, bool) {
		switch unit {
		case "":
			return 1, true
		case "vcpu", "vcpus":
			return UnitsPerVCPU, true
		}
		return 0, false
	})
	if err != nil {
		return 0, fmt.Errorf("%w: cpu %q is not a whole number of CPU units (1024) or vCPUs (1 vCPU)", ErrInvalid, s)
	}
	return v, nil
}

// ParseMemory returns the MiB of a task-level memory value: "512",
// "512 MiB", "2 GB", "0.5GiB". Errors wrap ErrInvalid: a malformed value, an
// unknown unit, a result above Max or with a fraction of a MiB.
func ParseMemory(s string) (int64, error) {
	v, err := parse(s, func(unit string) (int64, bool) {
		switch unit {
		case "", "mb", "mib":
			return 1, true
		case "gb", "gib":
			return MiBPerGiB, true
		}
		return 0, false
	})
	if err != nil {
		return 0, fmt.Errorf("%w: memory %q is not a whole number of MiB (512) or GB (2 GB)", ErrInvalid, s)
	}
	return v, nil
}

var errSyntax = errors.New("syntax")

// parse reads "<decimal><spaces><unit>" and returns decimal times the
// factor of unit, which must be a whole number within 0..Max.
func parse(s string, factor func(unit string) (int64, bool)) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	if num == "" || num == "." || strings.Count(num, ".") > 1 || len(num) > 32 {
		return 0, errSyntax
	}
	f, ok := factor(unit)
	if !ok {
		return 0, errSyntax
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, errSyntax
	}
	r.Mul(r, new(big.Rat).SetInt64(f))
	if !r.IsInt() || !r.Num().IsInt64() || r.Num().Int64() > Max {
		return 0, errSyntax
	}
	return r.Num().Int64(), nil
}
