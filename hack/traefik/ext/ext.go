// Package ext stands in for Traefik's nested module of the same path: its
// go.mod replaces it with a directory that the published module zip does not
// contain. Upstream it holds empty extension points, which this copies; Traefik
// v3.7.13 embeds HTTP and Router in its dynamic configuration.
package ext

// HTTP is embedded in dynamic.HTTPConfiguration.
type HTTP struct{}

// Router is embedded in dynamic.Router.
type Router struct{}

// RouterIng extends routers made from Ingress annotations.
type RouterIng struct{}

// ToRouter converts RouterIng to a Router.
func (r RouterIng) ToRouter() Router { return Router{} }
