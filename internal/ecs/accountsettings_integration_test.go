package ecs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
)

const (
	testUser  = "arn:aws:iam::" + apitest.Account + ":user/tester" // the test credentials' principal
	otherUser = "arn:aws:iam::" + apitest.Account + ":role/deployer"
	rootUser  = "arn:aws:iam::" + apitest.Account + ":root"
)

// settingsOf lists the settings of in, all pages, as name=value@principal.
func settingsOf(t *testing.T, c *ecs.Client, in ecs.ListAccountSettingsInput) []string {
	t.Helper()
	var out []string
	for {
		page, err := c.ListAccountSettings(context.Background(), &in)
		if err != nil {
			t.Fatalf("ListAccountSettings: %v", err)
		}
		if max := in.MaxResults; max > 0 && len(page.Settings) > int(max) {
			t.Fatalf("page of %d > %d", len(page.Settings), max)
		}
		for _, s := range page.Settings {
			out = append(out, string(s.Name)+"="+aws.ToString(s.Value)+"@"+aws.ToString(s.PrincipalArn))
		}
		if page.NextToken == nil {
			return out
		}
		in.NextToken = page.NextToken
	}
}

func TestAccountSettingsDefaults(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := env.Client
	got := settingsOf(t, c, ecs.ListAccountSettingsInput{EffectiveSettings: true, MaxResults: 5})
	want := []string{
		"awsvpcTrunking=disabled@" + rootUser,
		"containerInsights=disabled@" + rootUser,
		"containerInstanceLongArnFormat=enabled@" + rootUser,
		"defaultLogDriverMode=non-blocking@" + rootUser,
		"dualStackIPv6=disabled@" + rootUser,
		"fargateEventWindows=disabled@" + rootUser,
		"fargateFIPSMode=disabled@" + rootUser,
		"fargateTaskRetirementWaitPeriod=7@" + rootUser,
		"guardDutyActivate=off@" + rootUser,
		"serviceLongArnFormat=enabled@" + rootUser,
		"tagResourceAuthorization=on@" + rootUser,
		"taskLongArnFormat=enabled@" + rootUser,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("effective defaults:\n%s", strings.Join(got, "\n"))
	}
	if got := settingsOf(t, c, ecs.ListAccountSettingsInput{}); len(got) != 0 {
		t.Fatalf("nothing set, yet listed %v", got)
	}
	out, err := c.ListAccountSettings(context.Background(), &ecs.ListAccountSettingsInput{Name: "guardDutyActivate", EffectiveSettings: true})
	if err != nil || len(out.Settings) != 1 || out.Settings[0].Type != types.SettingTypeAwsManaged {
		t.Fatalf("guardDutyActivate: %+v %v", out, err)
	}
}

func TestAccountSettingsPrecedence(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	eff := func(principal string, name types.SettingName) string {
		t.Helper()
		in := ecs.ListAccountSettingsInput{Name: name, EffectiveSettings: true}
		if principal != "" {
			in.PrincipalArn = aws.String(principal)
		}
		got := settingsOf(t, c, in)
		if len(got) != 1 {
			t.Fatalf("effective %s for %s: %v", name, principal, got)
		}
		return got[0]
	}

	// The account default applies to everyone without their own value.
	def, err := c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: "containerInsights", Value: aws.String("enabled")})
	if err != nil || aws.ToString(def.Setting.PrincipalArn) != rootUser || def.Setting.Type != types.SettingTypeUser {
		t.Fatalf("PutAccountSettingDefault: %+v %v", def, err)
	}
	if got := eff("", "containerInsights"); got != "containerInsights=enabled@"+rootUser {
		t.Fatalf("caller: %s", got)
	}

	// The caller's own value wins; another principal still sees the default.
	own, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: "containerInsights", Value: aws.String("enhanced")})
	if err != nil || aws.ToString(own.Setting.PrincipalArn) != testUser {
		t.Fatalf("PutAccountSetting: %+v %v", own, err)
	}
	if got := eff("", "containerInsights"); got != "containerInsights=enhanced@"+testUser {
		t.Fatalf("caller after own setting: %s", got)
	}
	if got := eff(otherUser, "containerInsights"); got != "containerInsights=enabled@"+rootUser {
		t.Fatalf("other principal: %s", got)
	}

	// A setting for another principal, and for root (= the default).
	if _, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: "awsvpcTrunking", Value: aws.String("enabled"), PrincipalArn: aws.String(otherUser)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: "fargateTaskRetirementWaitPeriod", Value: aws.String("14"), PrincipalArn: aws.String(rootUser)}); err != nil {
		t.Fatal(err)
	}
	if got := eff(otherUser, "fargateTaskRetirementWaitPeriod"); got != "fargateTaskRetirementWaitPeriod=14@"+rootUser {
		t.Fatalf("root setting is the default: %s", got)
	}
	if got := settingsOf(t, c, ecs.ListAccountSettingsInput{PrincipalArn: aws.String(otherUser)}); strings.Join(got, ",") != "awsvpcTrunking=enabled@"+otherUser {
		t.Fatalf("other principal's own settings: %v", got)
	}
	if got := settingsOf(t, c, ecs.ListAccountSettingsInput{PrincipalArn: aws.String(rootUser)}); len(got) != 2 {
		t.Fatalf("root's settings are the defaults set: %v", got)
	}

	// A cluster created without settings takes the caller's containerInsights.
	cl := createCluster(t, c, &ecs.CreateClusterInput{ClusterName: aws.String("insights")})
	if settingValue(cl.Settings, "containerInsights") != "enhanced" {
		t.Fatalf("cluster settings %+v", cl.Settings)
	}

	// Filters: value needs name.
	if got := settingsOf(t, c, ecs.ListAccountSettingsInput{EffectiveSettings: true, Name: "containerInsights", Value: aws.String("disabled")}); len(got) != 0 {
		t.Fatalf("value filter: %v", got)
	}
	_, err = c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{Value: aws.String("enabled")})
	assertECSError(t, err, "InvalidParameterException")

	// Deleting the caller's value returns it and the default applies again;
	// deleting it again is harmless and reports what applies.
	del, err := c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: "containerInsights"})
	if err != nil || aws.ToString(del.Setting.Value) != "enhanced" || aws.ToString(del.Setting.PrincipalArn) != testUser {
		t.Fatalf("DeleteAccountSetting: %+v %v", del, err)
	}
	if got := eff("", "containerInsights"); got != "containerInsights=enabled@"+rootUser {
		t.Fatalf("after delete: %s", got)
	}
	del, err = c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: "containerInsights"})
	if err != nil || aws.ToString(del.Setting.Value) != "enabled" {
		t.Fatalf("second delete: %+v %v", del, err)
	}
	if _, err := c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: "containerInsights", PrincipalArn: aws.String(rootUser)}); err != nil {
		t.Fatal(err)
	}
	if got := eff("", "containerInsights"); got != "containerInsights=disabled@"+rootUser {
		t.Fatalf("after deleting the default: %s", got)
	}
}

func TestAccountSettingsValidation(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c, ctx := env.Client, context.Background()
	tests := []struct {
		name      string
		setting   types.SettingName
		value     string
		principal string
	}{
		{"unknown name", "fastMode", "enabled", ""},
		{"bad value", "awsvpcTrunking", "on", ""},
		{"enhanced is only for containerInsights", "awsvpcTrunking", "enhanced", ""},
		{"long ARNs can't be disabled", "taskLongArnFormat", "disabled", ""},
		{"read-only setting", "guardDutyActivate", "on", ""},
		{"wait period values", "fargateTaskRetirementWaitPeriod", "3", rootUser},
		{"wait period needs root", "fargateTaskRetirementWaitPeriod", "0", ""},
		{"principal of another account", "awsvpcTrunking", "enabled", "arn:aws:iam::999999999999:user/x"},
		{"not a principal", "awsvpcTrunking", "enabled", "arn:aws:sts::" + apitest.Account + ":assumed-role/r/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &ecs.PutAccountSettingInput{Name: tt.setting, Value: aws.String(tt.value)}
			if tt.principal != "" {
				in.PrincipalArn = aws.String(tt.principal)
			}
			_, err := c.PutAccountSetting(ctx, in)
			assertECSError(t, err, "InvalidParameterException")
		})
	}
	_, err := c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: "defaultLogDriverMode", Value: aws.String("lossy")})
	assertECSError(t, err, "InvalidParameterException")
	if _, err := c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: "fargateTaskRetirementWaitPeriod", Value: aws.String("0")}); err != nil {
		t.Fatalf("the default may set the wait period: %v", err)
	}
	_, err = c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: "guardDutyActivate"})
	assertECSError(t, err, "InvalidParameterException")
	for _, max := range []int32{11, -1} {
		_, err = c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{MaxResults: max})
		assertECSError(t, err, "InvalidParameterException")
	}
	_, err = c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true, NextToken: aws.String("bogus")})
	assertECSError(t, err, "InvalidParameterException")
}
