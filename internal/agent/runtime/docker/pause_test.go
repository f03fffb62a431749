package docker

import (
	"bytes"
	"debug/elf"
	"testing"
)

func TestPauseProgramIsAValidStaticExecutable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		arch    string
		machine elf.Machine
	}{
		{name: "amd64", arch: "amd64", machine: elf.EM_X86_64},
		{name: "arm64", arch: "arm64", machine: elf.EM_AARCH64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog, ok := pauseProgram(tc.arch)
			if !ok {
				t.Fatalf("no pause program for %s", tc.arch)
			}
			f, err := elf.NewFile(bytes.NewReader(prog))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if f.Machine != tc.machine || f.Type != elf.ET_EXEC || f.Class != elf.ELFCLASS64 {
				t.Errorf("machine %v type %v class %v", f.Machine, f.Type, f.Class)
			}
			if len(f.Progs) != 1 {
				t.Fatalf("%d program headers, want 1", len(f.Progs))
			}
			p := f.Progs[0]
			if p.Type != elf.PT_LOAD || p.Flags != elf.PF_R|elf.PF_X || p.Filesz != uint64(len(prog)) {
				t.Errorf("segment %+v", p.ProgHeader)
			}
			if f.Entry != p.Vaddr+120 || f.Entry >= p.Vaddr+p.Memsz {
				t.Errorf("entry %#x outside the code after the headers (segment at %#x)", f.Entry, p.Vaddr)
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("dynamic dependencies %v", libs)
			}
		})
	}
	if _, ok := pauseProgram("s390x"); ok {
		t.Error("pause program for s390x")
	}
}
