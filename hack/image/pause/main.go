// Command pause is the pod sandbox ("infra") container of the end-to-end
// cluster, which has no registry to pull the usual pause image from: it
// holds the pod's namespaces and sleeps until it is told to stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
