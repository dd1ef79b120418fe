//go:build !amd64

package main

// shellcode is only written for x86-64; elsewhere inject stops after
// reporting whether init's memory could be opened for writing.
func shellcode(kind, path string) []byte { return nil }
