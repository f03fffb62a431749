package taskres

import (
	"errors"
	"testing"
)

// The cases marked "was:" are where the copies this package replaced
// disagreed: scheduler.ParseCPU/ParseMemory rounded to the nearest unit,
// the Docker driver's parseTaskMemory truncated (and rejected GiB and 0),
// RegisterTaskDefinition's parser rejected fractions.
func TestParseCPU(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		ok   bool
	}{
		{"units", "1024", 1024, true},
		{"units with spaces", " 256 ", 256, true},
		{"vCPU", "1 vCPU", 1024, true},
		{"vcpu lower", "2 vcpu", 2048, true},
		{"VCPU upper, half", "0.5 VCPU", 512, true},
		{"no space", "4vCPU", 4096, true},
		{"quarter", "0.25 vCPU", 256, true},
		{"vcpus plural", "2 vcpus", 2048, true},
		{"leading dot", ".5 vcpu", 512, true},
		{"zero", "0", 0, true},
		{"smallest fraction that is whole", "0.0009765625 vCPU", 1, true},
		{"was: scheduler rounded 102.4 to 102", "0.1 vcpu", 0, false},
		{"was: scheduler rounded 1126.4 to 1126", "1.1 vCPU", 0, false},
		{"fractional units", "1.5", 0, false},
		{"empty", "", 0, false},
		{"word", "x", 0, false},
		{"negative", "-1", 0, false},
		{"plus sign", "+5", 0, false},
		{"unknown unit", "1 core", 0, false},
		{"two dots", "1..2 vCPU", 0, false},
		{"exponent", "1e3", 0, false},
		{"above 32 bits", "2097152 vCPU", 0, false},
		{"unit only", "vCPU", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCPU(tc.in)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("ParseCPU(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseCPU(%q) = %d, %v; want an error wrapping ErrInvalid", tc.in, got, err)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		ok   bool
	}{
		{"MiB", "512", 512, true},
		{"GB spaced", "2 GB", 2048, true},
		{"GB tight", "2GB", 2048, true},
		{"half GB", "0.5 GB", 512, true},
		{"gb lower", "0.5gb", 512, true},
		{"was: driver rejected GiB", "1 GiB", 1024, true},
		{"MiB unit", "300 MiB", 300, true},
		{"mb lower", "300mb", 300, true},
		{"was: driver rejected 0", "0", 0, true},
		{"was: scheduler 307, driver 307, register rejected", "0.3 GB", 0, false},
		{"was: scheduler 2048, driver 2047", "1.9999 GB", 0, false},
		{"was: scheduler 1, driver 0", "0.0005 GB", 0, false},
		{"was: driver accepted a plus sign", "+512", 0, false},
		{"was: driver accepted an exponent", "1e1GB", 0, false},
		{"fractional MiB", "1.5", 0, false},
		{"empty", "", 0, false},
		{"unit only", "GB", 0, false},
		{"terabytes", "2 TB", 0, false},
		{"negative", "-5", 0, false},
		{"above 32 bits", "2097152 GB", 0, false},
		{"largest", "2147483647", 2147483647, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMemory(tc.in)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("ParseMemory(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseMemory(%q) = %d, %v; want an error wrapping ErrInvalid", tc.in, got, err)
			}
		})
	}
}
