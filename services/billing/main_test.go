package billing

import (
	"testing"

	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
