package scheduler

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// ranked is the per-request index pick uses instead of a pass per task
// when the strategies that rank are, in order, one of:
//
//	binpack cpu|memory, or spread instanceId|host     (the inner key alone)
//	spread attribute:NAME                              (the outer key alone)
//	spread attribute:NAME, then one of the above       (outer, then inner)
//
// It holds exactly the candidates: the slots that check would pass for the
// next task. Within one request the view changes only where a task is
// placed, so after a placement on slot i only i can stop being a candidate
// or change its inner key (its remaining CPU or memory, or its count of the
// group's tasks), and only i's value of NAME changes its outer key (the
// group's task count of that value, read from the scan's counts at each
// pick). The index therefore keeps, per value of NAME (a part; one part
// when there is no outer key), the part's candidates ordered by inner key
// just enough to know the ones with the least, and updates slot i alone
// after each placement.
//
// A part's candidates lie in a contiguous region of arena, laid out as
//
//	[ loose | stack of buckets | cur ]
//
// cur holds the candidates with the part's least inner key (curKey), in
// any order. The stack holds buckets of candidates with equal keys, curKey
// < the top bucket's key < the next one's, and so on, each bucket's key no
// greater than any loose key; marks describes them. loose holds the others,
// unordered (sorted by decreasing key once refill has extracted from it a
// few times), each with its key, all greater than curKey; looseMin is the
// least. This works because a placement moves slot i's inner key only
// toward the front: binpack's remaining resource shrinks (i then ranks
// alone in cur, the rest of cur becomes the top bucket), and spread's count
// grows by one (i joins or starts the top bucket, no key of the rest being
// smaller than curKey+1). When cur empties, refill takes the top bucket,
// or the loose candidates with the least key, or both when they tie.
//
// pick then reads, over the parts that have candidates, the least (outer
// count, curKey) and draws uniformly among the cur candidates of all the
// parts that have it: exactly the slots fullScan would collect as ties, and
// with the same number of draws from the request's rng (one, or none when
// a single slot ties). The slots come in another order than fullScan's, so
// the same seed gives another, equally distributed, plan.
type ranked struct {
	// outer: the first strategy spreads by attribute; values and counts
	// are its level's (value number per slot, group tasks per value).
	outer  bool
	values []int32
	counts []int32
	// inner is the strategy ranking within a part: binpackCPU,
	// binpackMemory or spreadInstance, or random for none (every candidate
	// of a part ties).
	inner  strategyKind
	arena  []rankEntry
	parts  []rankPart // by value number, or the one part
	active []int32    // the parts that have candidates
	marks  []rankMark
	tmp    []int32 // building: the candidates, in slot order
	// last is the slot the last pick returned, its part and position.
	last struct{ slot, part, pos int32 }
	// broken is set if placed sees what the index cannot follow (a pick it
	// did not make, a key that moved backward); pick then makes the full
	// pass for the rest of the request. Neither happens in Place.
	broken bool
}

// rankEntry is a candidate and, while it is loose, its inner key.
type rankEntry struct {
	key  int64
	slot int32
}

// rankPart is one part's region of the arena: loose is [lo, looseEnd), the
// stack [looseEnd, curStart), cur [curStart, end).
type rankPart struct {
	lo, looseEnd, curStart, end int32
	curKey, looseMin            int64
	top                         int32 // the top bucket's mark, or -1
	refills                     int32 // extractions from loose so far
	sorted                      bool  // loose is sorted by decreasing key
	activeAt                    int32 // index in ranked.active
}

// rankMark is a bucket of the stack: it starts at start and ends where the
// bucket above it starts (or cur does, for the top); below is the mark of
// the bucket below, or -1.
type rankMark struct {
	key          int64
	start, below int32
}

// sortLooseAfter is how many extractions from a part's loose candidates
// refill makes with a pass over them before it sorts them once, after
// which each extraction takes the bucket at the end: a pass costs about as
// much as a few levels of the sort, and binpack over distinct remaining
// resources extracts once for each instance it fills.
const sortLooseAfter = 8

// buildRanked builds the ranked index for the request, with one pass over
// the slots, and reports whether the strategies are ones it covers.
func (s *scan) buildRanked() bool {
	r := &s.c.rank
	*r = ranked{arena: r.arena[:0], parts: r.parts[:0], active: r.active[:0], marks: r.marks[:0], tmp: r.tmp[:0], inner: random}
	levels := s.levels
	if len(levels) > 0 && levels[0].kind == spreadAttribute {
		r.outer, r.values, r.counts = true, levels[0].values, levels[0].counts
		levels = levels[1:]
	}
	switch {
	case len(levels) == 0 && r.outer:
	case len(levels) == 1 && levels[0].kind != spreadAttribute:
		r.inner = levels[0].kind
	default:
		return false
	}
	s.c.pickBuilds++
	nparts := 1
	if r.outer {
		nparts = len(r.counts)
	}
	r.parts = slices.Grow(r.parts, nparts)[:nparts]
	clear(r.parts)

	// The pass: fullScan's filters, in the same form.
	hot := s.c.hot
	d := &s.req.Demand
	cpu, memory, gpu := d.CPU, d.Memory, d.GPU
	flags, dynamic := s.filters || s.dynamic, s.dynamic
	one := &r.parts[0]
	one.looseMin = math.MaxInt64
	for x := range hot {
		if !roomFor(&hot[x], cpu, memory, gpu) {
			continue
		}
		i := int32(x)
		if flags && !(s.passes(i) && (!dynamic || s.passesDynamic(i))) {
			continue
		}
		if r.outer {
			r.tmp = append(r.tmp, i)
			r.parts[r.values[i]].end++
			continue
		}
		k := r.key(s, i)
		one.looseMin = min(one.looseMin, k)
		r.arena = append(r.arena, rankEntry{key: k, slot: i})
	}
	if r.outer {
		// Each part's region, in value order; then its candidates in slot
		// order.
		off := int32(0)
		for v := range r.parts {
			p := &r.parts[v]
			n := p.end
			p.lo, p.end, p.looseMin = off, off, math.MaxInt64
			off += n
		}
		r.arena = slices.Grow(r.arena, len(r.tmp))[:len(r.tmp)]
		for _, i := range r.tmp {
			p := &r.parts[r.values[i]]
			k := r.key(s, i)
			p.looseMin = min(p.looseMin, k)
			r.arena[p.end] = rankEntry{key: k, slot: i}
			p.end++
		}
	} else {
		one.end = int32(len(r.arena))
	}
	for v := range r.parts {
		p := &r.parts[v]
		p.looseEnd, p.curStart, p.top = p.end, p.end, -1
		if p.lo == p.end {
			continue
		}
		r.refill(p)
		p.activeAt = int32(len(r.active))
		r.active = append(r.active, int32(v))
	}
	s.rank = r
	return true
}

// key returns slot i's inner key; lower is better.
func (r *ranked) key(s *scan, i int32) int64 { return s.slotKey(r.inner, i) }

// refill fills p's empty cur with the candidates of the least inner key
// left: the top bucket when its key is below every loose key, else the
// loose candidates with the least key, joined by the top bucket if it has
// that key too (it is then the only bucket: the stack's keys are distinct
// and none is above a loose key). It leaves cur empty only when p has no
// candidates.
func (r *ranked) refill(p *rankPart) {
	hasLoose := p.lo < p.looseEnd
	if p.top >= 0 {
		m := &r.marks[p.top]
		if !hasLoose || m.key < p.looseMin {
			p.curStart, p.curKey, p.top = m.start, m.key, m.below
			return
		}
		if m.key != p.looseMin || m.below >= 0 {
			r.broken = true
			return
		}
		p.top = -1 // its bucket joins cur below
	} else if !hasLoose {
		return
	}
	k, a := p.looseMin, r.arena
	p.refills++
	if !p.sorted && p.refills > sortLooseAfter {
		slices.SortFunc(a[p.lo:p.looseEnd], func(x, y rankEntry) int {
			if c := cmp.Compare(y.key, x.key); c != 0 {
				return c
			}
			return cmp.Compare(x.slot, y.slot)
		})
		p.sorted = true
	}
	j, next := p.looseEnd, int64(math.MaxInt64)
	if p.sorted {
		for j > p.lo && a[j-1].key == k {
			j--
		}
		if j > p.lo {
			next = a[j-1].key
		}
	} else {
		// Move the entries with key k to the end of loose: [j, looseEnd)
		// holds those seen so far, (x, j) the others seen.
		for x := p.looseEnd - 1; x >= p.lo; x-- {
			if a[x].key == k {
				j--
				a[x], a[j] = a[j], a[x]
			} else if a[x].key < next {
				next = a[x].key
			}
		}
	}
	p.looseEnd, p.looseMin, p.curStart, p.curKey = j, next, j, k
}

// best returns the least (outer count, curKey) over the parts with
// candidates and how many candidates have it; n is 0 when there are none.
func (r *ranked) best() (count, key int64, n int) {
	count, key = math.MaxInt64, math.MaxInt64
	for _, v := range r.active {
		p := &r.parts[v]
		var c int64
		if r.outer {
			c = int64(r.counts[v])
		}
		size := int(p.end - p.curStart)
		switch {
		case c < count || c == count && p.curKey < key:
			count, key, n = c, p.curKey, size
		case c == count && p.curKey == key:
			n += size
		}
	}
	return count, key, n
}

// pick draws uniformly among the candidates that tie for best, or returns
// -1 if there are none; rng is drawn from only when two or more tie.
func (r *ranked) pick(rng *rand.Rand) int32 {
	count, key, n := r.best()
	if n == 0 {
		return -1
	}
	x := 0
	if n > 1 {
		x = rng.IntN(n)
	}
	for _, v := range r.active {
		p := &r.parts[v]
		if p.curKey != key || r.outer && int64(r.counts[v]) != count {
			continue
		}
		if size := int(p.end - p.curStart); x >= size {
			x -= size
			continue
		}
		pos := p.curStart + int32(x)
		r.last.slot, r.last.part, r.last.pos = r.arena[pos].slot, v, pos
		return r.last.slot
	}
	r.broken = true // unreachable: n counted the same candidates
	return -1
}

// ties appends to dst the candidates that tie for best, in no particular
// order: the set pick draws from.
func (r *ranked) ties(dst []int32) []int32 {
	count, key, n := r.best()
	if n == 0 {
		return dst
	}
	for _, v := range r.active {
		p := &r.parts[v]
		if p.curKey == key && (!r.outer || int64(r.counts[v]) == count) {
			for _, e := range r.arena[p.curStart:p.end] {
				dst = append(dst, e.slot)
			}
		}
	}
	return dst
}

// placed updates the index after the task pick chose went to slot i and
// the scan's counts were updated: i leaves the candidates, or keeps its
// place in cur, or moves to the front of the rest (binpack: alone in cur;
// spread: onto the stack).
func (r *ranked) placed(s *scan, i int32) {
	if r.broken {
		return
	}
	if i != r.last.slot {
		r.broken = true
		return
	}
	r.last.slot = -1
	p, a, pos := &r.parts[r.last.part], r.arena, r.last.pos
	d := &s.req.Demand
	if !roomFor(&s.c.hot[i], d.CPU, d.Memory, d.GPU) || !s.admits(i) {
		p.end--
		a[pos], a[p.end] = a[p.end], a[pos]
	} else if k := r.key(s, i); k < p.curKey {
		last := p.end - 1
		a[pos], a[last] = a[last], a[pos]
		if p.curStart < last {
			r.marks = append(r.marks, rankMark{key: p.curKey, start: p.curStart, below: p.top})
			p.top = int32(len(r.marks) - 1)
		}
		p.curStart, p.curKey = last, k
	} else if k > p.curKey {
		if p.top >= 0 && k > r.marks[p.top].key || p.lo < p.looseEnd && k > p.looseMin {
			r.broken = true // a key that does not go to the front of the rest
			return
		}
		a[pos], a[p.curStart] = a[p.curStart], a[pos]
		if p.top < 0 || r.marks[p.top].key != k {
			r.marks = append(r.marks, rankMark{key: k, start: p.curStart, below: p.top})
			p.top = int32(len(r.marks) - 1)
		}
		p.curStart++
	}
	if p.curStart < p.end {
		return
	}
	r.refill(p)
	if p.curStart == p.end && !r.broken { // p has no candidates left
		last := r.active[len(r.active)-1]
		r.active[p.activeAt] = last
		r.parts[last].activeAt = p.activeAt
		r.active = r.active[:len(r.active)-1]
	}
}
