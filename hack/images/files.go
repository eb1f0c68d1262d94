package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// hostCABundle is Debian's bundle of the CA certificates (package ca-certificates), which Go's
// crypto/x509 reads first on Linux: HTTPS object stores and OIDC issuers need it.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// baseLayer holds what every image shares: the CA certificates and the one user, "nonroot".
// No shell is listed in /etc/passwd because there is none: nobody logs in.
func baseLayer() ([]file, error) {
	ca, err := os.ReadFile(hostCABundle)
	if err != nil {
		return nil, fmt.Errorf("the images carry the build host's CA certificates, and %s cannot be read (%w): apt-get install ca-certificates", hostCABundle, err)
	}
	id := wellknown.NonRootUID
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", id, id)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", id)
	return []file{
		{path: "/etc/passwd", mode: 0o644, data: []byte(passwd)},
		{path: "/etc/group", mode: 0o644, data: []byte(group)},
		// No package owns the bundle: update-ca-certificates makes it from the certificates that
		// ca-certificates installs, so the SBOM names that package.
		{path: hostCABundle, mode: 0o644, data: ca, hostPath: hostCABundle, debianPackage: "ca-certificates"},
		{path: "/home/nonroot", mode: 0o700, dir: true, uid: id},
		// Sticky and writable by all, as a /tmp must be; pods mount an emptyDir over it anyway,
		// since their root filesystem is read-only.
		{path: "/tmp", mode: 0o1777, dir: true},
	}, nil
}

// sharedLibraries lists what a dynamically linked binary needs at run time: every library as the
// build host's dynamic loader resolves it (ldd, transitively), at the path ldd names, and the
// loader itself at the binary's PT_INTERP. Nothing else: what the binary does not load is not in
// the image. A library ldd cannot find is an error, not an image that fails at start.
func sharedLibraries(binPath string) ([]file, error) {
	bin, err := elf.Open(binPath)
	if err != nil {
		return nil, err
	}
	interp := ""
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				bin.Close()
				return nil, err
			}
			interp = string(bytes.TrimRight(b, "\x00"))
		}
	}
	bin.Close()
	if interp == "" {
		return nil, fmt.Errorf("%s has no dynamic loader (PT_INTERP): it is static, and needs no libraries", binPath)
	}

	out, err := exec.Command("ldd", binPath).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w: %s", binPath, err, out)
	}
	paths := []string{}
	sawInterp := false
	scanner := bufio.NewScanner(bytes.NewReader(out))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("ldd %s: %s: install the library on the build host", binPath, line)
		}
		// "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)", "/lib64/ld-linux-x86-64.so.2 (0x…)",
		// and the kernel's "linux-vdso.so.1 (0x…)", which is no file.
		name, resolved, found := strings.Cut(line, " => ")
		if !found {
			resolved = name
		}
		resolved, _, _ = strings.Cut(resolved, " (")
		if !strings.HasPrefix(resolved, "/") {
			continue
		}
		if resolved == interp {
			sawInterp = true
		}
		paths = append(paths, resolved)
	}
	if !sawInterp {
		paths = append(paths, interp)
	}
	libs := make([]file, 0, len(paths))
	for _, p := range paths {
		// ReadFile follows symlinks: the image holds the library itself at the name the loader
		// looks for.
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		libs = append(libs, file{path: p, mode: 0o755, data: data, hostPath: p})
	}
	if len(libs) == 0 {
		return nil, errors.New("ldd listed no library")
	}
	return libs, nil
}
