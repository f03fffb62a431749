package scheduler

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/cql"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// ErrInvalidPolicy is wrapped by the errors NewPolicy returns; the API
// reports them as InvalidParameterException.
var ErrInvalidPolicy = errors.New("invalid placement")

// MaxStrategies and MaxConstraints are ECS's limits: five strategy rules per
// task or service, ten constraints per task counting the task definition's.
const (
	MaxStrategies  = 5
	MaxConstraints = 10
)

// The strategy and constraint types and fields ECS defines.
const (
	StrategyRandom            = "random"
	StrategySpread            = "spread"
	StrategyBinpack           = "binpack"
	ConstraintDistinct        = "distinctInstance"
	ConstraintMemberOf        = "memberOf"
	FieldCPU                  = "cpu"
	FieldMemory               = "memory"
	FieldInstanceID           = "instanceId"
	FieldHost                 = "host"
	FieldAttributePrefix      = "attribute:"
	AttributeAvailabilityZone = "ecs.availability-zone"
)

// DefaultServiceStrategies returns the strategy ECS applies to a service
// created without one: spread across availability zones. RunTask without a
// strategy places at random, which is what a nil or empty strategy list in
// NewPolicy means.
func DefaultServiceStrategies() []ecsapi.PlacementStrategy {
	return []ecsapi.PlacementStrategy{{Type: StrategySpread, Field: FieldAttributePrefix + AttributeAvailabilityZone}}
}

type strategyKind uint8

const (
	binpackCPU strategyKind = iota
	binpackMemory
	spreadInstance
	spreadAttribute
	random
)

type strategy struct {
	kind strategyKind
	attr string // spreadAttribute
}

type constraint struct {
	distinct bool
	expr     *cql.Expr // memberOf
	key      string    // expr's canonical form, its static cache key
}

// Policy is a validated list of placement strategies and constraints. It is
// immutable and may be shared by any number of Place calls; a service
// controller builds one per service revision.
type Policy struct {
	// strategies stop at the first random one: random orders every
	// candidate, so no later strategy could break a tie.
	strategies  []strategy
	constraints []constraint
	distinct    bool
}

// NewPolicy validates strategies and constraints as ECS does and compiles
// the memberOf expressions. Strategies apply in order, each breaking the
// ties of those before it; with none, placement is random (RunTask's
// default). Errors wrap ErrInvalidPolicy and name the offending member as
// the API does (placementStrategy[1].field).
func NewPolicy(strategies []ecsapi.PlacementStrategy, constraints []ecsapi.PlacementConstraint) (*Policy, error) {
	if len(strategies) > MaxStrategies {
		return nil, fmt.Errorf("%w: %d placement strategies given; at most %d are allowed", ErrInvalidPolicy, len(strategies), MaxStrategies)
	}
	if len(constraints) > MaxConstraints {
		return nil, fmt.Errorf("%w: %d placement constraints given; at most %d are allowed, counting the task definition's", ErrInvalidPolicy, len(constraints), MaxConstraints)
	}
	p := &Policy{}
	stopped := false
	for i, s := range strategies {
		st, err := parseStrategy(s)
		if err != nil {
			return nil, fmt.Errorf("%w: placementStrategy[%d]: %v", ErrInvalidPolicy, i, err)
		}
		if !stopped {
			p.strategies = append(p.strategies, st)
			stopped = st.kind == random
		}
	}
	for i, c := range constraints {
		switch c.Type {
		case ConstraintDistinct:
			if c.Expression != "" {
				return nil, fmt.Errorf("%w: placementConstraints[%d]: an expression cannot be given with distinctInstance", ErrInvalidPolicy, i)
			}
			p.constraints = append(p.constraints, constraint{distinct: true})
			p.distinct = true
		case ConstraintMemberOf:
			if strings.TrimSpace(c.Expression) == "" {
				return nil, fmt.Errorf("%w: placementConstraints[%d]: memberOf requires an expression", ErrInvalidPolicy, i)
			}
			e, err := cql.Parse(c.Expression)
			if err != nil {
				return nil, fmt.Errorf("%w: placementConstraints[%d].expression: %w", ErrInvalidPolicy, i, err)
			}
			p.constraints = append(p.constraints, constraint{expr: e, key: e.String()})
		default:
			return nil, fmt.Errorf("%w: placementConstraints[%d].type %q is not distinctInstance or memberOf", ErrInvalidPolicy, i, c.Type)
		}
	}
	return p, nil
}

func parseStrategy(s ecsapi.PlacementStrategy) (strategy, error) {
	field := strings.TrimSpace(s.Field)
	switch s.Type {
	case StrategyRandom:
		return strategy{kind: random}, nil
	case StrategyBinpack:
		switch strings.ToLower(field) {
		case FieldCPU:
			return strategy{kind: binpackCPU}, nil
		case FieldMemory:
			return strategy{kind: binpackMemory}, nil
		}
		return strategy{}, fmt.Errorf("binpack field %q is not cpu or memory", s.Field)
	case StrategySpread:
		switch {
		case strings.EqualFold(field, FieldInstanceID), strings.EqualFold(field, FieldHost):
			return strategy{kind: spreadInstance}, nil
		case len(field) > len(FieldAttributePrefix) && strings.EqualFold(field[:len(FieldAttributePrefix)], FieldAttributePrefix):
			return strategy{kind: spreadAttribute, attr: field[len(FieldAttributePrefix):]}, nil
		}
		return strategy{}, fmt.Errorf("spread field %q is not instanceId, host or attribute:NAME", s.Field)
	}
	return strategy{}, fmt.Errorf("type %q is not random, spread or binpack", s.Type)
}
