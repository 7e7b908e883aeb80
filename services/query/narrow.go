package query

import (
	"context"
	"time"

	"github.com/sawmillhq/sawmill/pkg/lql"
	"github.com/sawmillhq/sawmill/pkg/store"
)

// narrow returns a condition on logs.ts that every row of tenant in [from,
// to) matching q meets, from the text blooms (store.TextRanges): a search
// for a rare term then reads the few time ranges whose chunks may hold it,
// not the whole range. "" when there is nothing to narrow by (no text
// condition, a common one, or Config.DisableTextBlooms); "0" when no row
// can match.
func (s *Service) narrow(ctx context.Context, tenant string, from, to time.Time, q *lql.Query) (string, error) {
	if s.cfg.DisableTextBlooms {
		return "", nil
	}
	cond, ok := q.TextCond()
	if !ok {
		return "", nil
	}
	ranges, ok, err := s.store.TextRanges(ctx, tenant, from, to, cond)
	if err != nil {
		return "", queryError(ctx, err)
	}
	if !ok {
		return "", nil
	}
	return store.RangesSQL(ranges), nil
}
