package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ on Linux, the unit of /proc/<pid>/stat times.
const clockTicks = 100

// cpuSeconds returns the user+system CPU seconds used so far by pid alone
// and by its descendants (for sawmill: its ClickHouse child; the embedded
// NATS runs inside sawmill).
func cpuSeconds(pid int) (self, children float64) {
	parent := map[int]int{}
	ticks := map[int]float64{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses and may
		// contain spaces.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		parent[p] = ppid
		ticks[p] = ut + st
	}
	for p, t := range ticks {
		if p == pid {
			self += t
			continue
		}
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				children += t
				break
			}
		}
	}
	return self / clockTicks, children / clockTicks
}
