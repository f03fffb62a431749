//go:build race

package filterpattern

// raceEnabled: the race detector makes sync.Pool drop items on purpose.
const raceEnabled = true
