package notify

import (
	"net/url"
	"strings"

	"github.com/sawmillhq/sawmill/pkg/apierr"
)

// Validate checks a channel's type and the fields its type needs: an
// http(s) URL for webhook and slack, a routing key (and optionally an
// http(s) URL) for pagerduty, at least one valid address for email. Its
// errors are apierr.Invalid with a message naming the field.
func (c Channel) Validate() error {
	switch c.Type {
	case TypeWebhook, TypeSlack:
		if c.URL == "" {
			return apierr.New(apierr.Invalid, "%s channel needs a url", c.Type)
		}
		return validURL(c.URL)
	case TypePagerDuty:
		if strings.TrimSpace(c.RoutingKey) == "" {
			return apierr.New(apierr.Invalid, "pagerduty channel needs a routing_key")
		}
		if c.URL != "" {
			return validURL(c.URL)
		}
		return nil
	case TypeEmail:
		if err := validAddresses(c.To); err != nil {
			return apierr.New(apierr.Invalid, "%v", err)
		}
		return nil
	case "":
		return apierr.New(apierr.Invalid, "channel type is required (webhook, slack, pagerduty or email)")
	}
	return apierr.New(apierr.Invalid, "unknown channel type %q (webhook, slack, pagerduty or email)", truncate(c.Type, 40))
}

// validURL accepts an absolute http or https URL with a host.
func validURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return apierr.New(apierr.Invalid, "url must be an absolute http:// or https:// URL, got %q", truncate(s, 100))
	}
	return nil
}

// validToken reports whether s can be one token of a NATS subject or KV
// key: non-empty, no dots, wildcards or whitespace.
func validToken(s string) bool {
	return s != "" && len(s) <= 256 && !strings.ContainsAny(s, ".*> \t\r\n")
}
