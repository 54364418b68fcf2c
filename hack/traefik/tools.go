//go:build tools

// Package traefik pins the source of the Traefik ingress controller, which
// end-to-end tests run as a host process with its kubernetesIngress provider;
// hack/traefik/build.sh builds it with `go build` from this module.
package traefik

import (
	_ "github.com/traefik/traefik/v3/cmd/traefik"
)
