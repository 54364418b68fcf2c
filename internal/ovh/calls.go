// Package ovh holds the calls of OVH's Queue documentation: the contract
// the gateway keeps, which the demos print for a user to paste after their
// exports and their tests run as printed.
package ovh

// Calls produce two messages, produce a raw one, and consume two.
const Calls = `curl -u $SASL_USERNAME:$SASL_PASSWORD -XPOST $URL/topic/$TOPIC -d '[{"Value": "first message"},{"Value":"second message"}]'
curl -u $SASL_USERNAME:$SASL_PASSWORD -XPOST "$URL/topic/$TOPIC?format=raw" -d '{"my": {"complex": ["json", "here"]}}'
curl -u $SASL_USERNAME:$SASL_PASSWORD "$URL/topic/$TOPIC?limit=2"
`
