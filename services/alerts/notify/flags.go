package notify

import "flag"

// RegisterFlags registers the delivery settings other than the SMTP relay
// (which the alerts role registers) on fs, each name after prefix (e.g.
// "alerts."): notify-max-attempts, notify-backoff, notify-max-backoff,
// notify-workers, pagerduty-url. Zero values keep NewQueue's defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.MaxAttempts, prefix+"notify-max-attempts", c.MaxAttempts, "delivery attempts before a notification is logged as failed (0: 8)")
	fs.DurationVar(&c.Backoff, prefix+"notify-backoff", c.Backoff, "first retry delay, doubled per attempt (0: 1s)")
	fs.DurationVar(&c.MaxBackoff, prefix+"notify-max-backoff", c.MaxBackoff, "longest retry delay, unless a receiver's Retry-After asks for more (0: 5m)")
	fs.IntVar(&c.Workers, prefix+"notify-workers", c.Workers, "deliveries one process makes at once (0: 8)")
	fs.StringVar(&c.PagerDutyURL, prefix+"pagerduty-url", c.PagerDutyURL, "PagerDuty Events API v2 endpoint for channels without a url (empty: "+DefaultPagerDutyURL+")")
}
