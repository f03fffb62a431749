package ops

import (
	"sort"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/cql"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// instanceFilter compiles a ListContainerInstances filter (the cluster query
// language); an empty one matches everything.
func (s *Service) instanceFilter(expr string) (func(*ecsapi.ContainerInstance) bool, error) {
	if expr == "" {
		return func(*ecsapi.ContainerInstance) bool { return true }, nil
	}
	e, err := cql.Parse(expr)
	if err != nil {
		return nil, apierror.InvalidParameter("Invalid filter expression: %v", err)
	}
	return func(ci *ecsapi.ContainerInstance) bool { return e.Eval(cql.InstanceTarget{Instance: ci}) }, nil
}

// checkPlacement validates placement constraints and strategies.
func (s *Service) checkPlacement(cons []ecsapi.PlacementConstraint, strat []ecsapi.PlacementStrategy) error {
	if len(cons) > 10 {
		return apierror.InvalidParameter("placementConstraints can have at most 10 items.")
	}
	if len(strat) > 5 {
		return apierror.InvalidParameter("placementStrategy can have at most 5 items.")
	}
	for _, c := range cons {
		switch c.Type {
		case "distinctInstance":
			if c.Expression != "" {
				return apierror.InvalidParameter("distinctInstance constraints take no expression.")
			}
		case "memberOf":
			if _, err := cql.Parse(c.Expression); err != nil {
				return apierror.InvalidParameter("Invalid placement constraint expression: %v", err)
			}
		default:
			return apierror.InvalidParameter("Invalid placement constraint type %s.", c.Type)
		}
	}
	for _, st := range strat {
		switch st.Type {
		case "random":
		case "binpack":
			if st.Field != "cpu" && st.Field != "memory" {
				return apierror.InvalidParameter("binpack placement strategy requires field cpu or memory.")
			}
		case "spread":
			if st.Field == "" {
				return apierror.InvalidParameter("spread placement strategy requires a field.")
			}
		default:
			return apierror.InvalidParameter("Invalid placement strategy type %s.", st.Type)
		}
	}
	return nil
}

// placeOrder picks instances for n tasks, first fit on resources after the
// constraints, and returns the index in cands of the instance of each task
// placed (an index may repeat) and the failures of the instances passed
// over. It does not change cands.
func (s *Service) placeOrder(cands []*candidate, o *runOptions, cons []ecsapi.PlacementConstraint, _ []ecsapi.PlacementStrategy, n int) ([]int, []ecsapi.Failure, error) {
	needs := taskNeeds(o.td, o.overrides)
	var exprs []*cql.Expr
	distinct := false
	var all []ecsapi.PlacementConstraint
	for _, c := range o.td.PlacementConstraints {
		all = append(all, ecsapi.PlacementConstraint{Type: ecsapi.PlacementConstraintType(c.Type), Expression: c.Expression})
	}
	all = append(all, cons...)
	for _, c := range all {
		switch c.Type {
		case "memberOf":
			e, err := cql.Parse(c.Expression)
			if err != nil {
				return nil, nil, apierror.InvalidParameter("Invalid placement constraint expression: %v", err)
			}
			exprs = append(exprs, e)
		case "distinctInstance":
			distinct = true
		}
	}
	// Scratch copies: each placement takes its resources from them.
	scratch := make([]*candidate, len(cands))
	for i, c := range cands {
		cp := *c
		cp.rec.Tasks = map[string]instanceTask{}
		for k, v := range c.rec.Tasks {
			cp.rec.Tasks[k] = v
		}
		scratch[i] = &cp
	}
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ra := resourceInt(cands[order[a]].rec.Instance.RemainingResources, "MEMORY")
		rb := resourceInt(cands[order[b]].rec.Instance.RemainingResources, "MEMORY")
		return ra > rb
	})
	reasons := map[int]string{}
	used := map[int]bool{}
	var out []int
	for len(out) < n {
		pick := -1
		for _, i := range order {
			c := scratch[i]
			if distinct && used[i] {
				reasons[i] = "DistinctInstance"
				continue
			}
			ok := true
			for _, e := range exprs {
				view := c.rec.Instance
				view.AgentConnected = c.connected
				if !e.Eval(cql.InstanceTarget{Instance: &view}) {
					ok = false
				}
			}
			if !ok {
				reasons[i] = "MemberOf"
				continue
			}
			if r := fitReason(c, needs); r != "" {
				reasons[i] = r
				continue
			}
			pick = i
			break
		}
		if pick < 0 {
			break
		}
		used[pick] = true
		delete(reasons, pick)
		scratch[pick].rec.addTask("placing-"+itoa(int64(len(out))), needs)
		out = append(out, pick)
	}
	var failures []ecsapi.Failure
	for i, c := range cands {
		if r, ok := reasons[i]; ok {
			failures = append(failures, ecsapi.Failure{Arn: c.rec.Instance.ContainerInstanceArn, Reason: r})
		}
	}
	return out, failures, nil
}
