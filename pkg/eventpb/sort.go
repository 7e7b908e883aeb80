package eventpb

import (
	"slices"
	"strings"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// Map iteration order is random; sorted attributes keep stored rows and
// tests deterministic.
func sortAttrs(a []event.Attr) {
	slices.SortFunc(a, func(x, y event.Attr) int { return strings.Compare(x.Key, y.Key) })
}

func sortNums(a []event.NumAttr) {
	slices.SortFunc(a, func(x, y event.NumAttr) int { return strings.Compare(x.Key, y.Key) })
}
