//go:build linux && !amd64 && !arm64

package seccomp

// nativeArch is zero: there is no syscall table for this GOARCH, so
// Default is empty and Compile refuses a policy without an explicit Arch.
const nativeArch Arch = 0

func nativeSyscalls() []sysEntry { return nil }
