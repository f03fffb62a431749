package ecs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Account settings live per principal and as account defaults:
//
//	accountsettings/<principal ARN, path-escaped>/<name>   PutAccountSetting
//	accountsettings-default/<name>                         PutAccountSettingDefault
//
// The root user's settings are the account defaults: PutAccountSetting for
// arn:aws:iam::ACCOUNT:root writes the default, as ECS documents. A setting
// nobody set has the built-in default of settingSpecs. Gantry has no IAM, so
// every caller may manage the settings of any principal of the account, as
// the root user or an administrator may in ECS.

// settingSpec is what ECS accepts for one account setting.
type settingSpec struct {
	values []string
	// def is the value when neither the principal nor the account set one.
	def string
	// managed settings are read-only (type aws_managed).
	managed bool
	// rootOnly settings can only be set for the root user.
	rootOnly bool
	// longARN settings can no longer be disabled.
	longARN bool
}

// settingSpecs are the account settings ECS has and their defaults for an
// account created today.
func settingSpecs() map[string]settingSpec {
	onOff := []string{"enabled", "disabled"}
	return map[string]settingSpec{
		"serviceLongArnFormat":            {values: onOff, def: "enabled", longARN: true},
		"taskLongArnFormat":               {values: onOff, def: "enabled", longARN: true},
		"containerInstanceLongArnFormat":  {values: onOff, def: "enabled", longARN: true},
		"awsvpcTrunking":                  {values: onOff, def: "disabled"},
		"containerInsights":               {values: []string{"enabled", "disabled", "enhanced"}, def: "disabled"},
		"dualStackIPv6":                   {values: onOff, def: "disabled"},
		"fargateFIPSMode":                 {values: onOff, def: "disabled"},
		"tagResourceAuthorization":        {values: []string{"on", "off"}, def: "on"},
		"fargateTaskRetirementWaitPeriod": {values: []string{"0", "7", "14"}, def: "7", rootOnly: true},
		"guardDutyActivate":               {values: []string{"on", "off"}, def: "off", managed: true},
		"defaultLogDriverMode":            {values: []string{"blocking", "non-blocking"}, def: "non-blocking"},
		"fargateEventWindows":             {values: onOff, def: "disabled"},
	}
}

// settingSpecFor returns the spec of setting name.
func settingSpecFor(name string) (settingSpec, error) {
	spec, ok := settingSpecs()[name]
	if !ok {
		return spec, apierror.InvalidParameter("Invalid account setting name: %s.", name)
	}
	return spec, nil
}

// checkWrite validates value for a write of the setting name by principal.
func (spec settingSpec) checkWrite(name, value string, principal, root string) error {
	if spec.managed {
		return apierror.InvalidParameter("The %s account setting is managed by Amazon Web Services and can't be changed.", name)
	}
	if !slices.Contains(spec.values, value) {
		return apierror.InvalidParameter("Invalid value %q for account setting %s. Valid values are: %s.", value, name, strings.Join(spec.values, ", "))
	}
	if spec.longARN && value == "disabled" {
		return apierror.InvalidParameter("You can no longer disable Long Arn settings.")
	}
	if spec.rootOnly && principal != root {
		return apierror.InvalidParameter("You must use the root user when you set %s.", name)
	}
	return nil
}

// settingType is the type ECS reports for setting name.
func settingType(spec settingSpec) ecsapi.SettingType {
	if spec.managed {
		return "aws_managed"
	}
	return "user"
}

var principalARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):(root|user/.+|role/.+)$`)

// rootPrincipal is the ARN of the account's root user.
func (s *API) rootPrincipal() string { return "arn:aws:iam::" + s.Account + ":root" }

// settingPrincipal is the principal a call acts on: given, else the caller
// (the root user for in-process callers with no identity). A principal must
// be a user, a role or the root user of this account.
func (s *API) settingPrincipal(ctx context.Context, given string) (string, error) {
	p := given
	if p == "" {
		p = caller.CallerFrom(ctx).Principal
	}
	if p == "" {
		return s.rootPrincipal(), nil
	}
	m := principalARNRE.FindStringSubmatch(p)
	if m == nil || m[1] != s.Account {
		return "", apierror.InvalidParameter("Invalid principalArn: %s. Specify the ARN of a user, a role or the root user of this account.", p)
	}
	if m[2] == "root" {
		return s.rootPrincipal(), nil
	}
	return p, nil
}

// settingKey is where principal's setting name lives; the account default's
// key for the root user.
func (s *API) settingKey(principal, name string) string {
	if principal == s.rootPrincipal() {
		return store.Key("accountsettings-default", name)
	}
	return store.Key("accountsettings", url.PathEscape(principal), name)
}

// settingPrefix is the prefix of every setting principal has set.
func (s *API) settingPrefix(principal string) string {
	if principal == s.rootPrincipal() {
		return prefixOf("accountsettings-default")
	}
	return prefixOf("accountsettings", url.PathEscape(principal))
}

// PutAccountSetting sets an account setting for a principal: the one named,
// else the caller. For the root user it sets the account default.
func (s *API) PutAccountSetting(ctx context.Context, in *ecsapi.PutAccountSettingRequest) (*ecsapi.PutAccountSettingResponse, error) {
	principal, err := s.settingPrincipal(ctx, in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	st, err := s.putSetting(ctx, principal, string(in.Name), in.Value)
	if err != nil {
		return nil, err
	}
	return &ecsapi.PutAccountSettingResponse{Setting: st}, nil
}

// PutAccountSettingDefault sets an account setting for every principal of
// the account that has not set it.
func (s *API) PutAccountSettingDefault(ctx context.Context, in *ecsapi.PutAccountSettingDefaultRequest) (*ecsapi.PutAccountSettingDefaultResponse, error) {
	st, err := s.putSetting(ctx, s.rootPrincipal(), string(in.Name), in.Value)
	if err != nil {
		return nil, err
	}
	return &ecsapi.PutAccountSettingDefaultResponse{Setting: st}, nil
}

func (s *API) putSetting(ctx context.Context, principal, name, value string) (*ecsapi.Setting, error) {
	spec, err := settingSpecFor(name)
	if err != nil {
		return nil, err
	}
	if err := spec.checkWrite(name, value, principal, s.rootPrincipal()); err != nil {
		return nil, err
	}
	st := ecsapi.Setting{Name: ecsapi.SettingName(name), Value: value, PrincipalArn: principal, Type: settingType(spec)}
	return store.Mutate(ctx, s.Store, s.settingKey(principal, name), func(cur *ecsapi.Setting, _ bool) error {
		*cur = st
		return nil
	})
}

// DeleteAccountSetting removes a principal's own value of a setting (the
// account default's, for the root user), so the next level applies again.
// It returns the setting as it applied to the principal before the call;
// deleting a setting that was not set succeeds and changes nothing.
func (s *API) DeleteAccountSetting(ctx context.Context, in *ecsapi.DeleteAccountSettingRequest) (*ecsapi.DeleteAccountSettingResponse, error) {
	name := string(in.Name)
	spec, err := settingSpecFor(name)
	if err != nil {
		return nil, err
	}
	if spec.managed {
		return nil, apierror.InvalidParameter("The %s account setting is managed by Amazon Web Services and can't be changed.", name)
	}
	principal, err := s.settingPrincipal(ctx, in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	key := s.settingKey(principal, name)
	for attempt := 0; attempt < 50; attempt++ {
		var st ecsapi.Setting
		rev, err := s.Store.Get(ctx, key, &st)
		if errors.Is(err, store.ErrNotFound) {
			eff, err := s.effectiveSetting(ctx, principal, name)
			if err != nil {
				return nil, err
			}
			return &ecsapi.DeleteAccountSettingResponse{Setting: &eff}, nil
		}
		if err != nil {
			return nil, err
		}
		err = s.Store.Delete(ctx, key, rev)
		if err == nil {
			return &ecsapi.DeleteAccountSettingResponse{Setting: &st}, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("delete account setting %s: %w", key, store.ErrConflict)
}

// effectiveSetting is the value of setting name that applies to principal:
// its own, else the account default, else ECS's built-in default. The last
// two name the root user as principal.
func (s *API) effectiveSetting(ctx context.Context, principal, name string) (ecsapi.Setting, error) {
	spec, err := settingSpecFor(name)
	if err != nil {
		return ecsapi.Setting{}, err
	}
	keys := []string{s.settingKey(principal, name)}
	if principal != s.rootPrincipal() {
		keys = append(keys, s.settingKey(s.rootPrincipal(), name))
	}
	for _, key := range keys {
		var st ecsapi.Setting
		_, err := s.Store.Get(ctx, key, &st)
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return st, err
		}
	}
	return ecsapi.Setting{Name: ecsapi.SettingName(name), Value: spec.def, PrincipalArn: s.rootPrincipal(), Type: settingType(spec)}, nil
}

// ListAccountSettings lists a principal's settings (the caller's when none
// is named) in name order, at most maxResults (1..10, default 10) a page.
// With effectiveSettings it lists every setting with the value that applies
// to the principal; without, only those the principal set itself. name and
// value filter the list; value needs name.
func (s *API) ListAccountSettings(ctx context.Context, in *ecsapi.ListAccountSettingsRequest) (*ecsapi.ListAccountSettingsResponse, error) {
	limit := int(in.MaxResults)
	if limit == 0 {
		limit = 10
	}
	if limit < 1 || limit > 10 {
		return nil, apierror.InvalidParameter("maxResults must be between 1 and 10.")
	}
	if in.Value != "" && in.Name == "" {
		return nil, apierror.InvalidParameter("You must also specify an account setting name to filter by value.")
	}
	if in.Name != "" {
		if _, err := settingSpecFor(string(in.Name)); err != nil {
			return nil, err
		}
	}
	principal, err := s.settingPrincipal(ctx, in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	scope := strings.Join([]string{"accountsettings", principal, string(in.Name), in.Value, boolString(in.EffectiveSettings)}, "\n")
	after, err := decodeToken(in.NextToken, scope)
	if err != nil {
		return nil, err
	}
	all, err := s.principalSettings(ctx, principal, in.EffectiveSettings)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListAccountSettingsResponse{Settings: []ecsapi.Setting{}}
	for _, st := range all {
		if string(st.Name) <= after || (in.Name != "" && st.Name != in.Name) || (in.Value != "" && st.Value != in.Value) {
			continue
		}
		if len(out.Settings) == limit {
			out.NextToken = encodeToken(string(out.Settings[limit-1].Name), scope)
			break
		}
		out.Settings = append(out.Settings, st)
	}
	return out, nil
}

// principalSettings returns, sorted by name, the settings principal set or,
// when effective, the value of every setting that applies to it.
func (s *API) principalSettings(ctx context.Context, principal string, effective bool) ([]ecsapi.Setting, error) {
	var out []ecsapi.Setting
	if effective {
		for name := range settingSpecs() {
			st, err := s.effectiveSetting(ctx, principal, name)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	} else {
		items, err := s.Store.List(ctx, s.settingPrefix(principal), "", 0)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			var st ecsapi.Setting
			if err := it.Decode(&st); err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b ecsapi.Setting) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return out, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
