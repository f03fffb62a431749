package logs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// CreateLogGroup creates a log group with its tags. The log group class is
// accepted (every class behaves as STANDARD), and so is a KMS key ID
// (Gantry does not encrypt with KMS).
func (a *API) CreateLogGroup(ctx context.Context, in *logsapi.CreateLogGroupRequest) (*struct{}, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.LogGroupName, "aws/") {
		return nil, invalidParameter("Log group names cannot start with the reserved prefix aws/")
	}
	if in.Tags != nil {
		if len(in.Tags) == 0 {
			return nil, validation("tags", "{}", "have length greater than or equal to 1")
		}
		if err := checkTags("tags", in.Tags); err != nil {
			return nil, err
		}
	}
	if err := checkClass(in.LogGroupClass); err != nil {
		return nil, err
	}
	if len(in.KmsKeyId) > 256 {
		return nil, lengthError("kmsKeyId", in.KmsKeyId, "less than or equal to 256")
	}
	if p, err := a.peerGroup(ctx, in.LogGroupName, ""); err == nil && p.Found {
		return nil, apierror.New(CodeResourceAlreadyExists, "%s", existsMessage(errGroupNotFound))
	}
	_, err := a.Store.CreateGroup(in.LogGroupName, in.Tags)
	return nil, storeError(err, "create log group", errGroupNotFound)
}

func checkClass(c logsapi.LogGroupClass) error {
	switch c {
	case "", "STANDARD", "INFREQUENT_ACCESS", "DELIVERY":
		return nil
	}
	return validation("logGroupClass", string(c), "satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]")
}

// DeleteLogGroup deletes a log group with all its streams and events.
func (a *API) DeleteLogGroup(ctx context.Context, in *logsapi.DeleteLogGroupRequest) (*struct{}, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	found, err := a.applyEverywhere(ctx, peerApplyRequest{Op: applyDeleteGroup, Group: in.LogGroupName})
	if err == nil && !found {
		return nil, errGroupNotFound
	}
	return nil, storeError(err, "delete log group", errGroupNotFound)
}

// DescribeLogGroups lists log groups in name order: all of them, those
// with a name prefix, those whose names contain a pattern (case
// sensitive), or those named in logGroupIdentifiers.
func (a *API) DescribeLogGroups(ctx context.Context, in *logsapi.DescribeLogGroupsRequest) (*logsapi.DescribeLogGroupsResponse, error) {
	if err := checkLimit(in.Limit, 50); err != nil {
		return nil, err
	}
	if in.LogGroupNamePrefix != "" && in.LogGroupNamePattern != "" {
		return nil, invalidParameter("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
	}
	if in.LogGroupNamePrefix != "" {
		if err := checkGroupName("logGroupNamePrefix", in.LogGroupNamePrefix); err != nil {
			return nil, err
		}
	}
	if in.LogGroupNamePattern != "" {
		if len(in.LogGroupNamePattern) > 512 {
			return nil, lengthError("logGroupNamePattern", in.LogGroupNamePattern, "less than or equal to 512")
		}
		if !patternRE.MatchString(in.LogGroupNamePattern) {
			return nil, validation("logGroupNamePattern", in.LogGroupNamePattern, `satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]*`)
		}
	}
	if err := checkClass(in.LogGroupClass); err != nil {
		return nil, err
	}
	out := &logsapi.DescribeLogGroupsResponse{LogGroups: []logsapi.LogGroup{}}
	if len(in.LogGroupIdentifiers) > 0 {
		return a.describeGroupsByID(ctx, in, out)
	}
	if in.LogGroupClass != "" && in.LogGroupClass != "STANDARD" {
		return out, nil // every group is STANDARD
	}
	if a.Peers != nil {
		return a.mergedGroups(ctx, in)
	}
	q := logstore.GroupQuery{Prefix: in.LogGroupNamePrefix, Pattern: in.LogGroupNamePattern, Cursor: in.NextToken}
	if in.Limit != nil {
		q.Limit = int(*in.Limit)
	}
	groups, next, err := a.Store.ListGroups(q)
	if err != nil {
		return nil, storeError(err, "describe log groups", errGroupNotFound)
	}
	for _, g := range groups {
		// The store matches the pattern ignoring case; AWS does not.
		if in.LogGroupNamePattern != "" && !strings.Contains(g.Name, in.LogGroupNamePattern) {
			continue
		}
		out.LogGroups = append(out.LogGroups, a.logGroup(g, in.LogGroupNamePattern != ""))
	}
	out.NextToken = next
	return out, nil
}

func (a *API) describeGroupsByID(ctx context.Context, in *logsapi.DescribeLogGroupsRequest, out *logsapi.DescribeLogGroupsResponse) (*logsapi.DescribeLogGroupsResponse, error) {
	if in.LogGroupNamePrefix != "" || in.LogGroupNamePattern != "" || in.NextToken != "" {
		return nil, invalidParameter("logGroupIdentifiers cannot be combined with logGroupNamePrefix, logGroupNamePattern or nextToken.")
	}
	if len(in.LogGroupIdentifiers) > 50 {
		return nil, validation("logGroupIdentifiers", "[...]", "have length less than or equal to 50")
	}
	var names []string
	for _, id := range in.LogGroupIdentifiers {
		name := id
		if strings.HasPrefix(id, "arn:") {
			n, ok := a.groupFromARN(id)
			if !ok {
				continue
			}
			name = n
		} else if err := checkGroupName("logGroupIdentifiers", id); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, n := range names {
		g, err := a.Store.Group(n)
		if errors.Is(err, logstore.ErrNotFound) {
			if p, perr := a.peerGroup(ctx, n, ""); perr == nil && p.Found {
				g, err = p.Group, nil
			}
		}
		if err != nil {
			if e := storeError(err, "describe log groups", errGroupNotFound); e != errGroupNotFound {
				return nil, e
			}
			continue
		}
		if in.LogGroupClass == "" || in.LogGroupClass == "STANDARD" {
			out.LogGroups = append(out.LogGroups, a.logGroup(g, false))
		}
	}
	return out, nil
}

// logGroup renders a group; brief is the reduced form AWS answers a
// logGroupNamePattern search with (name, ARN and creation time).
func (a *API) logGroup(g logstore.Group, brief bool) logsapi.LogGroup {
	created := g.CreationTime
	lg := logsapi.LogGroup{LogGroupName: g.Name, CreationTime: &created, Arn: a.groupARN(g.Name) + ":*"}
	if brief {
		return lg
	}
	zero := int32(0)
	stored := g.StoredBytes
	off := false
	lg.MetricFilterCount = &zero
	lg.StoredBytes = &stored
	lg.LogGroupClass = "STANDARD"
	lg.LogGroupArn = a.groupARN(g.Name)
	lg.DeletionProtectionEnabled = &off
	if g.RetentionDays > 0 {
		days := int32(g.RetentionDays)
		lg.RetentionInDays = &days
	}
	return lg
}

// PutRetentionPolicy sets how many days a group's events are kept; the
// store deletes older events within a minute (logstore.Store.Run).
func (a *API) PutRetentionPolicy(ctx context.Context, in *logsapi.PutRetentionPolicyRequest) (*struct{}, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if in.RetentionInDays == nil || !slices.Contains(retentionDays, *in.RetentionInDays) {
		v := "null"
		if in.RetentionInDays != nil {
			v = fmt.Sprint(*in.RetentionInDays)
		}
		return nil, validation("retentionInDays", v, "satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]")
	}
	found, err := a.applyEverywhere(ctx, peerApplyRequest{Op: applyRetention, Group: in.LogGroupName, Days: int(*in.RetentionInDays)})
	if err == nil && !found {
		return nil, errGroupNotFound
	}
	return nil, storeError(err, "put retention policy", errGroupNotFound)
}

// DeleteRetentionPolicy makes a group keep its events forever.
func (a *API) DeleteRetentionPolicy(ctx context.Context, in *logsapi.DeleteRetentionPolicyRequest) (*struct{}, error) {
	if err := checkGroupName("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	found, err := a.applyEverywhere(ctx, peerApplyRequest{Op: applyRetention, Group: in.LogGroupName})
	if err == nil && !found {
		return nil, errGroupNotFound
	}
	return nil, storeError(err, "delete retention policy", errGroupNotFound)
}
