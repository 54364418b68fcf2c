// Command mkimage writes a container image as a docker-save tarball, with no
// registry, no base image and no container engine: one layer holding the
// given files, a fixed creation time so that the same inputs make the same
// image. `make image` packs the project's static binaries with it;
// `docker load` and `ctr images import` both read the result.
//
//	mkimage -o image.tar -tag repo:tag -entrypoint /manager -user 65532:65532 \
//	    bin/manager=/manager bin/gateway=/gateway
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is every file's and the image's creation time, for reproducible images.
var epoch = time.Unix(0, 0).UTC()

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	out := fs.String("o", "image.tar", "output tarball")
	tag := fs.String("tag", "", "image reference, e.g. qaas.dev/qaas:0.1.0")
	entrypoint := fs.String("entrypoint", "", "the image's entrypoint (a path inside the image)")
	user := fs.String("user", "65532:65532", "uid:gid the image runs as")
	arch := fs.String("arch", "amd64", "the binaries' architecture (GOARCH)")
	var labels []string
	fs.Func("label", "KEY=VALUE image label (repeatable)", func(v string) error {
		labels = append(labels, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tag == "" || *entrypoint == "" || fs.NArg() == 0 {
		return errors.New("usage: mkimage -o OUT -tag REF -entrypoint PATH [-user UID:GID] [-label K=V]... SRC=DEST...")
	}
	uid, gid, ok := strings.Cut(*user, ":")
	if !ok {
		return fmt.Errorf("-user %q is not UID:GID", *user)
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("-tag: %w", err)
	}
	layerTar, err := buildLayer(fs.Args(), uid, gid)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = *arch, "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Entrypoint: []string{*entrypoint},
		User:       *user,
		WorkingDir: "/",
		Env:        []string{"PATH=/"},
		Labels:     map[string]string{},
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("-label %q is not KEY=VALUE", l)
		}
		cf.Config.Labels[k] = v
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	return tarball.WriteToFile(*out, ref, img)
}

// buildLayer makes the layer: /tmp, an /etc/passwd and /etc/group naming the
// unprivileged user (so tools that look the user up find it), and each
// SRC=DEST file, executable when its source is.
func buildLayer(files []string, uid, gid string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	dir := func(p string, mode int64) error {
		if p == "." || p == "/" || dirs[p] {
			return nil
		}
		dirs[p] = true
		return tw.WriteHeader(&tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: mode, ModTime: epoch})
	}
	file := func(p string, mode int64, data []byte) error {
		for _, d := range parents(p) {
			if err := dir(d, 0o755); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := dir("tmp", 0o1777); err != nil {
		return nil, err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n", uid, gid)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%s:\n", gid)
	if err := file("etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte(group)); err != nil {
		return nil, err
	}
	for _, f := range files {
		src, dest, ok := strings.Cut(f, "=")
		if !ok || !path.IsAbs(dest) {
			return nil, fmt.Errorf("%q is not SRC=/DEST", f)
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		mode := int64(0o644)
		if st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		if err := file(strings.TrimPrefix(dest, "/"), mode, data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parents lists p's parent directories, outermost first.
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}
