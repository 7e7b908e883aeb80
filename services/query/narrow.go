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
// can match. rows is how many rows the chunks that may match hold (0 when
// cond is ""): what the condition leaves to read when inserts do not
// overlap in time, a fraction of it when they do.
func (s *Service) narrow(ctx context.Context, tenant string, from, to time.Time, q *lql.Query) (cond string, rows int64, err error) {
	if s.cfg.DisableTextBlooms {
		return "", 0, nil
	}
	tc, ok := q.TextCond()
	if !ok {
		return "", 0, nil
	}
	ranges, ok, err := s.store.TextRanges(ctx, tenant, from, to, tc)
	if err != nil {
		return "", 0, queryError(ctx, err)
	}
	if !ok {
		return "", 0, nil
	}
	for _, r := range ranges {
		rows += r.Rows
	}
	return store.RangesSQL(ranges), rows, nil
}
