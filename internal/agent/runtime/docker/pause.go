package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// pauseProgram returns the pause executable for a GOARCH-style architecture
// name, or false if there is none for it.
//
// The pause program blocks forever in a system call and does nothing else:
// it exists to hold an awsvpc task's network namespace. It is a few dozen
// bytes of machine code in a hand-built static ELF executable, so the agent
// needs neither a registry nor a toolchain to make the pause image.
//
// amd64:  loop: mov eax, 34 (pause); syscall; jmp loop
// arm64:  loop: x0..x3 = 0; x8 = 73 (ppoll: no fds, no timeout); svc #0; b loop
//
// As PID 1 of its namespace it ignores SIGTERM: the runtime removes it
// with SIGKILL (forced removal), never stops it.
func pauseProgram(arch string) ([]byte, bool) {
	switch arch {
	case "amd64":
		return elfExecutable(elf.EM_X86_64, []byte{
			0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34
			0x0f, 0x05, // syscall
			0xeb, 0xf7, // jmp -9
		}), true
	case "arm64":
		return elfExecutable(elf.EM_AARCH64, []byte{
			0xe0, 0x03, 0x1f, 0xaa, // mov x0, xzr
			0xe1, 0x03, 0x1f, 0xaa, // mov x1, xzr
			0xe2, 0x03, 0x1f, 0xaa, // mov x2, xzr
			0xe3, 0x03, 0x1f, 0xaa, // mov x3, xzr
			0x28, 0x09, 0x80, 0xd2, // mov x8, #73
			0x01, 0x00, 0x00, 0xd4, // svc #0
			0xfa, 0xff, 0xff, 0x17, // b -24
		}), true
	}
	return nil, false
}

// elfExecutable returns a static little-endian 64-bit ELF executable whose
// one loadable segment is the whole file, mapped at 0x400000, with code
// right after the headers as its entry point.
func elfExecutable(machine elf.Machine, code []byte) []byte {
	const (
		base   = 0x400000
		ehsize = 64 // ELF header
		phsize = 56 // one program header
	)
	size := uint64(ehsize + phsize + len(code))
	le := binary.LittleEndian
	b := make([]byte, 0, size)
	b = append(b, 0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT), byte(elf.ELFOSABI_NONE))
	b = append(b, make([]byte, 8)...) // rest of e_ident
	b = le.AppendUint16(b, uint16(elf.ET_EXEC))
	b = le.AppendUint16(b, uint16(machine))
	b = le.AppendUint32(b, uint32(elf.EV_CURRENT))
	b = le.AppendUint64(b, base+ehsize+phsize) // e_entry
	b = le.AppendUint64(b, ehsize)             // e_phoff
	b = le.AppendUint64(b, 0)                  // e_shoff: no sections
	b = le.AppendUint32(b, 0)                  // e_flags
	b = le.AppendUint16(b, ehsize)
	b = le.AppendUint16(b, phsize)
	b = le.AppendUint16(b, 1) // e_phnum
	b = le.AppendUint16(b, 0) // e_shentsize
	b = le.AppendUint16(b, 0) // e_shnum
	b = le.AppendUint16(b, 0) // e_shstrndx
	b = le.AppendUint32(b, uint32(elf.PT_LOAD))
	b = le.AppendUint32(b, uint32(elf.PF_R|elf.PF_X))
	b = le.AppendUint64(b, 0)       // p_offset
	b = le.AppendUint64(b, base)    // p_vaddr
	b = le.AppendUint64(b, base)    // p_paddr
	b = le.AppendUint64(b, size)    // p_filesz
	b = le.AppendUint64(b, size)    // p_memsz
	b = le.AppendUint64(b, 0x10000) // p_align: fits 4 KiB and 64 KiB pages
	return append(b, code...)
}

// ensurePauseImage makes Config.PauseImage available: the default image is
// imported from the built-in pause program for the daemon's architecture,
// any other is pulled.
func (r *Runtime) ensurePauseImage(ctx context.Context) error {
	r.setupMu.Lock()
	defer r.setupMu.Unlock()
	_, err := r.cli.ImageInspect(ctx, r.cfg.PauseImage)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return wrap(runtime.ResourceInitializationError, err)
	}
	if r.cfg.PauseImage != DefaultPauseImage {
		if err := r.pull(ctx, r.cfg.PauseImage, PullPreferCached); err != nil {
			return runtime.NewError(runtime.ResourceInitializationError, runtime.IsRetryable(err), fmt.Errorf("pause image: %w", err))
		}
		return nil
	}
	v, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return wrap(runtime.ResourceInitializationError, err)
	}
	prog, ok := pauseProgram(v.Arch)
	if !ok {
		return errorf(runtime.ResourceInitializationError, "no built-in pause program for %s; configure a pause image", v.Arch)
	}
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	if err := tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(prog)), Typeflag: tar.TypeReg}); err != nil {
		return errorf(runtime.ResourceInitializationError, "pause image: %v", err)
	}
	if _, err := tw.Write(prog); err != nil {
		return errorf(runtime.ResourceInitializationError, "pause image: %v", err)
	}
	if err := tw.Close(); err != nil {
		return errorf(runtime.ResourceInitializationError, "pause image: %v", err)
	}
	rc, err := r.cli.ImageImport(ctx, image.ImportSource{Source: &rootfs, SourceName: "-"}, r.cfg.PauseImage, image.ImportOptions{
		Message: "Gantry awsvpc pause container",
		Changes: []string{`ENTRYPOINT ["/pause"]`, "LABEL " + LabelManaged + "=true"},
	})
	if err == nil {
		err = readJSONStream(rc)
		rc.Close()
	}
	if err != nil {
		return wrap(runtime.ResourceInitializationError, fmt.Errorf("import pause image: %w", err))
	}
	r.log.Info("imported pause image", "image", r.cfg.PauseImage, "arch", v.Arch)
	return nil
}
