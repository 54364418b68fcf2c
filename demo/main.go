// Command demo runs the whole product on one machine with nothing
// installed: a Kubernetes control plane (kube-apiserver and etcd, as
// envtest runs them), an in-process Kafka-protocol broker with SASL/SCRAM
// and ACLs on, the operator, and the sample QueueApp, whose gateway it runs
// as its Deployment would (there is no kubelet) behind the operator's own
// certificate. It prints how to use the endpoint with curl.
//
//	KUBEBUILDER_ASSETS=$(bash hack/envtest/build.sh) go run ./demo   # what `make demo` does
package main

import (
	"errors"
	"flag"
	"io"

	"qaas.dev/qaas/internal/command"
)

func main() { command.Main("demo", run) }

// options are the demo's flags.
type options struct {
	listenAddress string
	repoDir       string
	assetsDir     string
}

func parseOptions(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.listenAddress, "listen-address", "127.0.0.1:8443", "where the sample QueueApp's gateway serves HTTPS")
	fs.StringVar(&o.repoDir, "repo", ".", "the repository, for its CRDs (config/crd/bases) and sample (config/samples)")
	fs.StringVar(&o.assetsDir, "assets", getenv("KUBEBUILDER_ASSETS"), "directory with kube-apiserver, etcd and kubectl (bash hack/envtest/build.sh prints it)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.assetsDir == "" {
		return nil, errors.New("no kube-apiserver and etcd: run `make demo`, or set KUBEBUILDER_ASSETS=$(bash hack/envtest/build.sh)")
	}
	return o, nil
}
